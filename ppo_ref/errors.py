"""The errors a user can fix, which the CLI prints as one line (``ppo-ref: error: ...``).

Every such error is a :class:`UserError`; the specific ones (ConfigError, EnvError,
CheckpointError, GoldenError, SweepError, RunDirError, CompareError) are its
subclasses, each in the module whose input it refuses. This module imports nothing of ppo_ref, so that
any module can raise them.
"""

import errno
import importlib
import os


class UserError(ValueError):
    """An error the user can fix; the message says what was wrong and what was expected."""


class MissingPackageError(UserError):
    """An optional package is not installed; the message says what to install."""


def os_error_text(err):
    """An OSError as one line: its reason and the file (or both files of a failed
    rename or link), or its own text where it names no file. Where a file stands
    where the path, or one of its parents, should be a folder, the line names that
    file."""
    if not err.filename:
        return str(err)
    if err.errno in (errno.EEXIST, errno.ENOTDIR) and not err.filename2:
        blocker = _file_in_the_way(os.fspath(err.filename))
        if blocker is not None:
            asked = "" if blocker == os.fspath(err.filename) else f"{err.filename}: "
            return f"{asked}{blocker} is a file, not a folder"
    files = f"{err.filename} -> {err.filename2}" if err.filename2 else err.filename
    return f"{err.strerror or err}: {files}"


def _file_in_the_way(path):
    """The nearest of ``path`` and its parents that exists, if it is not a folder."""
    path = os.path.normpath(path)
    while path and not os.path.lexists(path):
        parent = os.path.dirname(path)
        path = parent if parent != path else ""
    return path if path and not os.path.isdir(path) else None


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
