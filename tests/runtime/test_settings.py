import logging

import pytest
from pydantic import ValidationError

from runtime.logs import RedactingFormatter
from runtime.settings import KafkaSettings
from services.tagger.settings import TaggerSettings


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
    with pytest.raises(FileNotFoundError, match="TAGSTREAM_CONFIG"):
        TaggerSettings()


def test_invalid_value_names_the_field(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX_SIZE", "0")
    with pytest.raises(ValidationError, match="batch_max_size"):
        TaggerSettings()


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
