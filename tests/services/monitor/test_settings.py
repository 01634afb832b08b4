import pytest

from monitoring.errors import MonitorError
from services.monitor.settings import MonitorSettings


def test_monitor_settings_come_from_tagstream_monitor_variables(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_MONITOR_WINDOW_EVENTS", "1200")
    monkeypatch.setenv("TAGSTREAM_MONITOR_WINDOW_SECONDS", "15")
    monkeypatch.setenv("TAGSTREAM_MONITOR_ALPHA", "0.001")
    settings = MonitorSettings()
    config = settings.monitor_config()
    assert (config.window_events, config.window_seconds, config.policy.alpha) == (1200, 15.0, 0.001)
    assert (settings.monitor_host, settings.monitor_port) == ("127.0.0.1", 9400)
    assert config.targets.target("main_colour") == 0.85  # the committed targets


def test_a_window_smaller_than_the_minimum_is_judged_at_its_own_size():
    assert MonitorSettings(monitor_window_events=50, monitor_min_window=200).policy.min_window == 50


def test_a_bad_targets_file_names_the_attribute(tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text("attributes:\n  main_colour: 1.5\n")
    with pytest.raises(MonitorError, match=r"attributes\.main_colour") as info:
        MonitorSettings(monitor_targets=path).monitor_config()
    assert info.value.hint
    path.write_text("attributes:\n  colour: 0.5\n")
    with pytest.raises(MonitorError, match="unknown attribute colour"):
        MonitorSettings(monitor_targets=path).monitor_config()
