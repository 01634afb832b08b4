import logging
import subprocess
import sys

import pytest
from pydantic_settings import SettingsError as PydanticSettingsError

from contracts.errors import TagstreamError
from runtime.errors import ConfigFileError, SettingsError, UnknownSettingError
from runtime.logs import RedactingFormatter
from runtime.settings import KafkaSettings
from services.tagger.settings import TaggerSettings
from services.tritonhost.settings import TritonHostSettings
from tools.stack.settings import StackSettings


def test_environment_variables_with_the_prefix_set_fields(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_KAFKA_BOOTSTRAP", "broker-1:9093,broker-2:9093")
    monkeypatch.setenv("TAGSTREAM_TRITON_URL", "triton.internal:8001")
    settings = TaggerSettings()
    assert settings.kafka_client_kwargs()["bootstrap_servers"] == ["broker-1:9093", "broker-2:9093"]
    assert settings.triton_url == "triton.internal:8001"


def test_defaults_point_at_the_local_stack(monkeypatch):
    monkeypatch.delenv("TAGSTREAM_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("TAGSTREAM_TRITON_URL", raising=False)
    settings = TaggerSettings()
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.triton_url == "127.0.0.1:8001"


def test_yaml_file_named_by_tagstream_config_is_read_and_env_wins(monkeypatch, tmp_path):
    config = tmp_path / "tagstream.yaml"
    config.write_text("kafka_bootstrap: from-file:9092\nbatch_max_size: 8\n")
    monkeypatch.setenv("TAGSTREAM_CONFIG", str(config))
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX_SIZE", "16")
    settings = TaggerSettings()
    assert settings.kafka_bootstrap == "from-file:9092"
    assert settings.batch_max_size == 16


def test_missing_config_file_is_an_error_that_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TAGSTREAM_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigFileError, match="TAGSTREAM_CONFIG"):
        TaggerSettings()


def test_invalid_value_names_the_field(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX_SIZE", "0")
    with pytest.raises(SettingsError, match="batch_max_size") as info:
        TaggerSettings()
    assert info.value.field == "batch_max_size"
    assert "\n" not in str(info.value) and "TAGSTREAM_BATCH_MAX_SIZE" in str(info.value)


def test_settings_errors_are_tagstream_errors_and_the_library_s_error_too(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX_SIZE", "0")
    with pytest.raises(TagstreamError):
        TaggerSettings()
    with pytest.raises(PydanticSettingsError):  # what a process's main already catches to exit 2
        TaggerSettings()


def test_an_invalid_secret_is_named_but_its_value_never_shown(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_KAFKA_SASL_MECHANISM", "hunter2-mechanism")
    with pytest.raises(SettingsError, match="kafka_sasl_mechanism") as info:
        KafkaSettings()
    assert "hunter2" not in str(info.value)


def _config(monkeypatch, tmp_path, text: str):
    path = tmp_path / "tagstream.yaml"
    path.write_text(text)
    monkeypatch.setenv("TAGSTREAM_CONFIG", str(path))
    return path


def test_misspelt_key_in_the_config_file_is_refused_naming_the_key_the_file_and_a_guess(monkeypatch, tmp_path):
    path = _config(monkeypatch, tmp_path, "kafka_bootstrap: from-file:9092\nbach_max_size: 8\n")
    with pytest.raises(UnknownSettingError) as info:
        TaggerSettings()
    message = str(info.value)
    assert "'bach_max_size'" in message and str(path) in message and "'batch_max_size'" in message
    assert info.value.field == "bach_max_size" and "\n" not in message


def test_each_process_reads_the_top_and_its_own_section_and_skips_the_others(monkeypatch, tmp_path):
    _config(monkeypatch, tmp_path, "log_level: DEBUG\n"
                                   "tagger:\n  batch_max_size: 8\n  metrics_port: 9400\n"
                                   "tritonhost:\n  metrics_port: 9402\n"
                                   "stack:\n  taggers: 3\n")
    tagger, host = TaggerSettings(), TritonHostSettings()
    assert (tagger.log_level, tagger.batch_max_size, tagger.metrics_port) == ("DEBUG", 8, 9400)
    assert (host.log_level, host.metrics_port) == ("DEBUG", 9402)


def test_a_section_wins_over_the_top_and_the_environment_over_both(monkeypatch, tmp_path):
    _config(monkeypatch, tmp_path, "log_level: DEBUG\ntagger:\n  log_level: WARNING\n  batch_max_size: 8\n")
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX_SIZE", "16")
    settings = TaggerSettings()
    assert (settings.log_level, settings.batch_max_size) == ("WARNING", 16)


def test_unknown_key_in_a_process_s_own_section_is_refused_with_its_section(monkeypatch, tmp_path):
    _config(monkeypatch, tmp_path, "stack:\n  tagers: 2\n")
    with pytest.raises(UnknownSettingError, match=r"'stack\.tagers'.*did you mean 'taggers'"):
        StackSettings()
    assert TaggerSettings().batch_max_size == 32, "another process's section is not the tagger's business"


def test_a_key_of_another_process_at_the_top_is_refused_by_a_process_without_it(monkeypatch, tmp_path):
    _config(monkeypatch, tmp_path, "taggers: 3\n")
    assert StackSettings().taggers == 3
    with pytest.raises(UnknownSettingError, match=r"'taggers'.*under its section"):
        TaggerSettings()


@pytest.mark.parametrize(("text", "complaint"), [
    ("- a\n- b\n", "not a mapping"),
    ("tagger: 3\n", "section 'tagger'"),
    ("batch_max_size: [8\n", "not valid YAML at line"),
])
def test_config_file_that_is_no_mapping_of_settings_is_one_error_naming_the_file(monkeypatch, tmp_path, text,
                                                                                  complaint):
    path = _config(monkeypatch, tmp_path, text)
    with pytest.raises(ConfigFileError, match=complaint) as info:
        TaggerSettings()
    assert str(path) in str(info.value)


def test_environment_variables_no_setting_knows_are_left_to_other_processes(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_TAGGERS", "3")  # a stack setting, in the tagger's environment
    monkeypatch.setenv("TAGSTREAM_SOMETHING_NEW", "x")
    assert TaggerSettings().batch_max_size == 32
    assert StackSettings().taggers == 3


def test_unknown_keyword_argument_is_refused():
    with pytest.raises(SettingsError, match="tagers: no such setting"):
        StackSettings(tagers=2)  # type: ignore[call-arg]  # the misspelling is the point of the test


def test_tagger_process_with_a_misspelt_config_key_exits_2_with_one_line(tmp_path):
    path = tmp_path / "tagger.yaml"
    path.write_text("bach_max_size: 8\n")
    result = subprocess.run([sys.executable, "-m", "services.tagger"], env={"TAGSTREAM_CONFIG": str(path),
                                                                             "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'bach_max_size'" in lines[0] and str(path) in lines[0]


def test_sasl_and_tls_settings_pass_through_to_kafka_python():
    settings = KafkaSettings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                             kafka_sasl_username="svc", kafka_sasl_password="hunter2", kafka_ssl_cafile="/ca.pem")
    kwargs = settings.kafka_client_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "svc"
    assert kwargs["sasl_plain_password"] == "hunter2"
    assert kwargs["ssl_cafile"] == "/ca.pem"


def test_secrets_never_show_in_the_redacted_settings_or_their_repr():
    settings = TaggerSettings(kafka_sasl_password="hunter2", kafka_ssl_password="swordfish")
    assert "hunter2" not in str(settings.redacted())
    assert "swordfish" not in str(settings.redacted())
    assert "hunter2" not in repr(settings)
    assert settings.redacted()["kafka_sasl_password"] == "***"


def test_log_formatter_masks_password_like_values():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "connecting with sasl_plain_password=hunter2 ok",
                               None, None)
    assert "hunter2" not in RedactingFormatter("%(message)s").format(record)


def test_allow_hosts_accept_a_comma_list_or_json(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_URL_ALLOW_HOSTS", "images.local:8080, cdn.local")
    assert TaggerSettings().url_allow_hosts == ["images.local:8080", "cdn.local"]
    monkeypatch.setenv("TAGSTREAM_URL_ALLOW_HOSTS", '["a:1"]')
    assert TaggerSettings().url_allow_hosts == ["a:1"]
