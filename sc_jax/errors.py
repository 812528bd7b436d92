"""The error raised for bad configuration, user data or API arguments."""


class ConfigError(ValueError):
    """Bad input. The message names the field and the allowed values."""
