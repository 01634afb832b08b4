"""Free loopback ports, and stack settings that use only free ones (a private stack beside a running one)."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

from tools.stack.errors import PortInUseError
from tools.stack.settings import LOOPBACK, StackSettings


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nothing listens on right now (held open together while chosen)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port() -> int:
    return free_ports(1)[0]


def free_port_range(count: int, attempts: int = 50) -> int:
    """The first of ``count`` consecutive free ports (tagger i listens on base + i)."""
    for _ in range(attempts):
        base = free_port()
        if base + count <= 65535 and all(_bindable(p) for p in range(base, base + count)):
            return base
    raise PortInUseError(f"found no {count} consecutive free ports on {LOOPBACK}",
                         hint="stop something that listens on many ports, or run fewer taggers")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def private_settings(state_dir: Path, **overrides: Any) -> StackSettings:
    """StackSettings in ``state_dir`` with every port free, so it never meets a user's stack; overrides win.

    Private stacks (tests, benchmarks) leave the monitor, the rollout controller and the review console out unless
    asked (``monitor=True`` and so on): they measure other things, and those processes would only slow their start.
    """
    broker, s3, grpc, http, metrics, control, controller, review, monitor, prometheus = free_ports(10)
    taggers = int(overrides.get("taggers", 1))
    defaults: dict[str, Any] = {
        "state_dir": state_dir, "broker_port": broker, "s3_port": s3, "triton_grpc_port": grpc,
        "triton_http_port": http, "triton_metrics_port": metrics, "triton_control_port": control,
        "controller_port": controller,
        "tagger_metrics_port": free_port_range(max(taggers, 1)), "taggers": taggers, "review_port": review,
        "monitor_port": monitor, "prometheus_port": prometheus, "monitor": False,
        "controller": False, "review": False,
    }
    return StackSettings(**{**defaults, **overrides})
