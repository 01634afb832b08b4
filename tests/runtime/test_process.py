"""A service's main through ``run_service``: settings, logging, signals, and expected failures as one line."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import BaseModel, ValidationError

from runtime.errors import AddressInUseError, SettingsError
from runtime.process import EXPECTED_FAILURE, run_service


@dataclass(frozen=True)
class Settings:
    log_level: str = "INFO"
    instance_id: str = "svc-7"


class Strict(BaseModel):
    size: int


@pytest.fixture(autouse=True)
def _restore_signals_and_logging() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    root.handlers[:] = handlers
    root.setLevel(level)


def _run(serve, load=Settings, **options) -> int:
    return run_service("svc", load, serve, log_level=lambda s: s.log_level, **options)


def _never(_settings: Settings, _stop: threading.Event) -> int:
    raise AssertionError("serve ran although the settings were invalid")


def test_exit_status_is_what_serve_returns_when_it_gets_the_settings_and_an_unset_stop() -> None:
    seen: list[tuple[Settings, bool]] = []

    def serve(settings: Settings, stop: threading.Event) -> int:
        seen.append((settings, stop.is_set()))
        return 3

    assert _run(serve) == 3
    assert seen == [(Settings(), False)]


def test_invalid_settings_are_one_line_and_exit_2_before_serve_runs(capsys) -> None:
    def load() -> Settings:
        raise SettingsError("invalid settings for the svc: size: must be positive", field="size",
                            hint="fix TAGSTREAM_SIZE")

    assert _run(_never, load) == EXPECTED_FAILURE
    err = capsys.readouterr().err
    assert err == "error: invalid settings for the svc: size: must be positive (fix TAGSTREAM_SIZE)\n"


def test_pydantic_validation_error_of_the_settings_is_one_line_too(capsys) -> None:
    def load() -> Settings:
        Strict(size="many")  # type: ignore[arg-type]  # the wrong type is the point
        return Settings()

    assert _run(_never, load) == EXPECTED_FAILURE
    err = capsys.readouterr().err
    assert err.startswith("error: invalid settings for the svc: ") and "size" in err
    with pytest.raises(ValidationError):  # the check above can fail: the loader does raise
        load()


def test_expected_failure_in_serve_is_one_error_line_with_the_fix_and_exit_2(capsys) -> None:
    def serve(_settings: Settings, _stop: threading.Event) -> int:
        raise AddressInUseError("port 9300 on 127.0.0.1 is taken", field="metrics_port",
                                hint="set TAGSTREAM_METRICS_PORT to a free port")

    assert _run(serve) == EXPECTED_FAILURE
    assert capsys.readouterr().err == ("error: cannot run the svc: port 9300 on 127.0.0.1 is taken "
                                       "(set TAGSTREAM_METRICS_PORT to a free port)\n")


def test_unexpected_exception_in_serve_keeps_its_traceback() -> None:
    def serve(_settings: Settings, _stop: threading.Event) -> int:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        _run(serve)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_sets_stop_and_says_what_the_service_does(sig: signal.Signals, capsys) -> None:
    def serve(_settings: Settings, stop: threading.Event) -> int:
        os.kill(os.getpid(), sig)
        return 0 if stop.wait(5) else 1

    assert _run(serve, on_signal="finishing in-flight work") == 0
    assert f"{sig.name} received: finishing in-flight work" in capsys.readouterr().err


def test_log_lines_carry_the_instance_name_when_one_is_given(capsys) -> None:
    def serve(_settings: Settings, _stop: threading.Event) -> int:
        logging.getLogger("services.svc").info("hello")
        return 0

    assert _run(serve, instance=lambda s: s.instance_id) == 0
    assert " INFO svc-7 services.svc: hello" in capsys.readouterr().err
