"""The failures a user causes, typed, so that a caller can tell them from bugs.

A :class:`UsageError` is a mistake in what was asked for — an argument, a config key, a file
that is not what it should be — and its message names it. The command line prints it on one
line and exits with status 2 (argparse's convention); any other exception is a bug and keeps its
traceback. Both are ValueErrors, so ``except ValueError`` still catches every bad argument. This
module imports nothing: it is the lowest layer.
"""

from __future__ import annotations

__all__ = ["RunMismatch", "UsageError"]


class UsageError(ValueError):
    """A mistake in the request (argument, config key, input file); the message names it."""


class RunMismatch(UsageError):
    """A folder or checkpoint holds another run than the one requested: continuing it would mix
    two runs' outputs. Use another folder, or replace the old run explicitly."""
