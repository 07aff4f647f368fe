"""The one family of errors that bad input raises.

A tool prints a :class:`CreamError` as one line and exits; anything else is a
bug or a failure of the run and keeps its traceback. Each subclass also
derives from the builtin that a Python reader expects for it (a missing file
is still a ``FileNotFoundError``), so that ``except ValueError`` keeps working.
"""


class CreamError(Exception):
    """Input a user can fix: its message names the input and what was expected."""

    def __str__(self) -> str:
        # KeyError's own __str__ would quote the message.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConfigError(CreamError, ValueError):
    """An option or config value that is out of range or inconsistent."""


class ArchError(CreamError, ValueError):
    """An arch, or an arch file, that does not fit its search space."""


class UnknownNameError(CreamError, KeyError):
    """A name (search space, arch, option key) that nothing is registered under."""


class MissingFileError(CreamError, FileNotFoundError):
    """A dataset, checkpoint, arch or config file that is not where it was said to be."""


class CheckpointError(CreamError, ValueError):
    """A checkpoint that cannot be read, or that does not fit the model."""


class MissingPackageError(CreamError, ImportError):
    """An optional package (a deployment runtime) that is not installed."""


class SetupError(CreamError, RuntimeError):
    """An environment that lacks what the run needs (e.g. mmcv's CUDA ops)."""
