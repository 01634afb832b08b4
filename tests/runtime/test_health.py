"""The probes a process serves: "starting" until its component runs, then the component's own; a taken port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from runtime.errors import AddressInUseError
from runtime.health import serving_health


class Component:
    def liveness(self) -> tuple[bool, dict[str, object]]:
        return True, {"polled_s": 0.1}

    def readiness(self) -> tuple[bool, dict[str, object]]:
        return True, {"assigned": 4}


def _get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_probes_say_starting_until_the_component_runs_then_answer_for_it() -> None:
    current: list[Component | None] = [None]
    with serving_health("127.0.0.1", 0, lambda: current[0]) as health:
        assert _get(health.port, "/healthz") == (200, {"ok": True, "starting": True})
        assert _get(health.port, "/readyz") == (503, {"ok": False, "starting": True})
        current[0] = Component()
        assert _get(health.port, "/healthz") == (200, {"ok": True, "polled_s": 0.1})
        assert _get(health.port, "/readyz") == (200, {"ok": True, "assigned": 4})


def test_probes_stop_when_the_block_ends() -> None:
    with serving_health("127.0.0.1", 0, lambda: None) as health:
        port = health.port
    with pytest.raises(urllib.error.URLError):
        _get(port, "/healthz")


def test_held_port_is_an_error_naming_the_setting_that_chose_it(held_port: int) -> None:
    with pytest.raises(AddressInUseError) as info, serving_health("127.0.0.1", held_port, lambda: None,
                                                                  port_setting="monitor_port"):
        pass
    assert info.value.field == "monitor_port"
    assert f"port {held_port} on 127.0.0.1 is taken" in str(info.value)
    assert "TAGSTREAM_MONITOR_PORT" in str(info.value)
