"""Errors that name the input at fault, so a failed job's log says what to fix."""


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key and the allowed values."""


class DataError(ValueError):
    """An input file or its content is wrong; the message names the file, model, step or example."""
