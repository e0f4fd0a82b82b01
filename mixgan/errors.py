"""User-facing errors: the CLIs print them as one line and exit with code 2."""


class MixganError(Exception):
    """Bad input from the user (config, data folder, checkpoint): shown without a traceback."""


class ConfigError(MixganError):
    """A config key, type or value that is not accepted."""


class SettingError(ConfigError, ValueError):
    """An unknown name or a bad value given to an object when it is built (an objective, a loss):
    a ConfigError for the CLIs, a ValueError for Python callers."""


class DataError(MixganError):
    """A data set that is unknown or whose files are missing."""


class CheckpointError(MixganError):
    """A checkpoint that is missing, truncated or corrupted."""


class InputSizeError(ConfigError, ValueError):
    """Inputs too small (or of a size) a network cannot be built for: bad input, and a ValueError."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """An exception as one short line: "Type: first line of its message" (or just "Type")."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:limit]}" if text else type(err).__name__
