"""How every command reports a user's mistake: one line on stderr, exit status 2 (as click does
for bad flags), no traceback."""

from __future__ import annotations

import errno

import click

from e2train.errors import E2TrainError


class UserError(click.ClickException):
    exit_code = 2


# Errors of the file system, not of the program: the message and the run's checkpoint are what the user needs.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


def storage_error(err: OSError, run_dir: object) -> UserError | None:
    """A full disk, a quota, a read-only or unreadable file system met mid-run, as one line saying what is
    kept; None for any other OSError (a bug, shown with its traceback)."""
    if err.errno not in STORAGE_ERRNOS:
        return None
    where = f" {err.filename}" if err.filename else ""
    return UserError(f"cannot write{where}: {err.strerror or err}. The run folder {run_dir} keeps every "
                     "iteration up to its last checkpoint; free space or fix permissions, then rerun with "
                     "--resume")


def run_error(err: Exception, run_dir: object) -> UserError | None:
    """What a command that writes a run folder shows for ``err``: a library error's own one-line message,
    a storage failure with what the folder keeps; None for anything else (a bug, shown with its traceback)."""
    if isinstance(err, E2TrainError):
        return UserError(str(err))
    if isinstance(err, OSError):
        return storage_error(err, run_dir)
    return None
