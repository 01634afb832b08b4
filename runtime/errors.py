"""Errors of the shared runtime: settings, the Kafka connection, a port to listen on.

``SettingsError`` is also a ``pydantic_settings.SettingsError``, so a process that catches the library's
error (as a ``main`` does to exit 2) catches ours too.
"""

from __future__ import annotations

from pydantic_settings import SettingsError as PydanticSettingsError

from contracts.errors import TagstreamError


class SettingsError(TagstreamError, PydanticSettingsError):
    """A process's settings are invalid: a bad value, an unknown key in the config file, an unreadable file.

    ``field`` names the setting at fault, where one is.
    """

    code = "invalid_settings"


class ConfigFileError(SettingsError):
    """The file named by TAGSTREAM_CONFIG is missing, unreadable or not a mapping of settings."""

    code = "config_file"


class UnknownSettingError(SettingsError):
    """The config file names a setting that the process reading it does not have."""

    code = "unknown_setting"


class BrokerUnavailable(TagstreamError):
    """No Kafka broker answers at the bootstrap servers, or it refused an admin request."""

    code = "broker_unavailable"


class AddressInUseError(TagstreamError):
    """A port this process must listen on is taken."""

    code = "address_in_use"
