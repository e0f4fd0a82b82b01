"""User-facing errors: the CLIs print them as one line and exit with code 2."""


class MixganError(Exception):
    """Bad input from the user (config, data folder, checkpoint): shown without a traceback."""


class ConfigError(MixganError):
    """A config key, type or value that is not accepted."""


class DataError(MixganError):
    """A data set that is unknown or whose files are missing."""


class CheckpointError(MixganError):
    """A checkpoint that is missing, truncated or corrupted."""
