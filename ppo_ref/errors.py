"""The errors a user can fix, which the CLI prints as one line (``ppo-ref: error: ...``).

Every such error is a :class:`UserError`; the specific ones (ConfigError, EnvError,
CheckpointError, GoldenError, SweepError, RunDirError, CompareError) are its
subclasses, each in the module whose input it refuses. This module imports nothing of ppo_ref, so that
any module can raise them.
"""

import importlib


class UserError(ValueError):
    """An error the user can fix; the message says what was wrong and what was expected."""


class MissingPackageError(UserError):
    """An optional package is not installed; the message says what to install."""


def os_error_text(err):
    """An OSError as one line: its reason and the file (or both files of a failed
    rename or link), or its own text where it names no file."""
    if not err.filename:
        return str(err)
    files = f"{err.filename} -> {err.filename2}" if err.filename2 else err.filename
    return f"{err.strerror or err}: {files}"


def import_optional(module, purpose, extra, alternative=None):
    """``importlib.import_module(module)``, or a MissingPackageError whose one line
    says that ``purpose`` needs it and to ``pip install 'ppo_ref[EXTRA]'`` (then
    ``alternative``, a way around it, if given)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        tail = f" ({alternative})" if alternative else ""
        raise MissingPackageError(f"{purpose} needs {package}: pip install 'ppo_ref[{extra}]'{tail}") from None
