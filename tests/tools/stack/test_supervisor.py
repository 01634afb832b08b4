"""ManagedProcess with small Python children: readiness, early exit, taken ports, stop and kill."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from tools.stack.errors import ComponentFailedError, MissingBinaryError, PortInUseError
from tools.stack.ports import free_port
from tools.stack.probes import http_probe, port_free
from tools.stack.supervisor import ManagedProcess, PortClaim, process_alive, process_start_ticks

#: The leader starts a sleeping grandchild, writes its pid, then serves HTTP (like PyTriton's tritonserver).
_WITH_GRANDCHILD = """
import http.server, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[2], "w").write(str(child.pid))
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""
_IGNORES_SIGTERM = """
import http.server, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def _http_server(tmp_path: Path, port: int, name: str = "web") -> ManagedProcess:
    return ManagedProcess(name, [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                          state_dir=tmp_path, probe=http_probe(f"http://127.0.0.1:{port}/"),
                          ports=[PortClaim(port, "TAGSTREAM_WEB_PORT")])


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while process_start_ticks(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_start_waits_until_ready_and_stop_ends_the_process(tmp_path: Path) -> None:
    port = free_port()
    proc = _http_server(tmp_path, port)
    proc.start()
    try:
        proc.wait_ready(timeout=15)
        assert proc.alive() and proc.ready()
        assert proc.pid_path.read_text().strip() == str(proc.pid)
    finally:
        proc.stop(timeout=5)
    assert not proc.alive()
    assert proc.pid is None
    assert not proc.pid_path.exists()
    assert port_free(port)
    assert "starting web" in proc.log_path.read_text()


def test_child_that_exits_early_fails_wait_ready_with_its_log_tail(tmp_path: Path) -> None:
    lines = "; ".join(f"print('line {i}')" for i in range(30))
    proc = ManagedProcess("early", [sys.executable, "-c", f"{lines}; print('fatal: no config'); raise SystemExit(3)"],
                          state_dir=tmp_path, probe=lambda: False)
    proc.start()
    started = time.monotonic()
    with pytest.raises(ComponentFailedError) as failure:
        proc.wait_ready(timeout=30)
    assert time.monotonic() - started < 10, "an exited child must fail at once, not at the timeout"
    assert "code 3" in str(failure.value)
    assert failure.value.tail[-1] == "fatal: no config"
    assert len(failure.value.tail) == 20


def test_taken_port_gives_one_line_error_naming_the_setting_and_down(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = _http_server(tmp_path, port)
        with pytest.raises(PortInUseError) as failure:
            proc.start()
    message = str(failure.value)
    assert "\n" not in message
    assert str(port) in message and "TAGSTREAM_WEB_PORT" in message and "tagstream down" in message
    assert proc.pid is None


def test_missing_binary_gives_one_line_error_with_the_install_command(tmp_path: Path) -> None:
    proc = ManagedProcess("ghost", ["tagstream-no-such-binary"], state_dir=tmp_path, probe=lambda: True)
    with pytest.raises(MissingBinaryError) as failure:
        proc.start()
    assert "\n" not in str(failure.value)
    assert "pip install -e '.[local]'" in str(failure.value)


def test_kill_leaves_no_process_of_the_group_behind(tmp_path: Path) -> None:
    port, pid_file = free_port(), tmp_path / "grandchild.pid"
    proc = ManagedProcess("family", [sys.executable, "-c", _WITH_GRANDCHILD, str(port), str(pid_file)],
                          state_dir=tmp_path, probe=http_probe(f"http://127.0.0.1:{port}/"))
    proc.start()
    leader = proc.pid
    assert leader is not None
    proc.wait_ready(timeout=15)
    grandchild = int(pid_file.read_text())
    proc.kill()
    assert not proc.alive()
    assert _gone(leader) and _gone(grandchild)


def test_stop_kills_a_child_that_ignores_sigterm_after_the_timeout(tmp_path: Path) -> None:
    port = free_port()
    proc = ManagedProcess("stubborn", [sys.executable, "-c", _IGNORES_SIGTERM, str(port)], state_dir=tmp_path,
                          probe=http_probe(f"http://127.0.0.1:{port}/"))
    proc.start()
    proc.wait_ready(timeout=15)
    pid = proc.pid
    assert pid is not None
    started = time.monotonic()
    proc.stop(timeout=0.5)
    assert time.monotonic() - started < 5
    assert _gone(pid)


def test_attached_process_is_stopped_by_pid_and_a_recycled_pid_is_not_trusted(tmp_path: Path) -> None:
    port = free_port()
    first = _http_server(tmp_path, port)
    first.start()
    try:
        first.wait_ready(timeout=15)
        pid, ticks = first.pid, first.start_ticks
        assert pid is not None and ticks is not None
        assert not process_alive(pid, str(int(ticks) + 1)), "another start time means another process"
        later = _http_server(tmp_path, port)  # as `tagstream down` sees it, from another process
        later.attach(pid, ticks)
        assert later.alive() and later.ready()
        later.stop(timeout=5)
        assert _gone(pid)
    finally:
        first.stop(timeout=1)
