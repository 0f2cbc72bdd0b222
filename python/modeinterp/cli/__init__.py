"""The ``modeinterp`` command line.

``main`` parses the flags, runs one command and keeps a user's mistake to one line: a bad flag,
config key or input file, a run folder holding another run — a
:class:`~modeinterp.errors.UsageError` — prints ``modeinterp COMMAND: error: …`` and exits
with status 2, argparse's convention; a full disk or a permission lost mid-run prints one line
and exits 1. Anything else is a bug and keeps its traceback; ``--debug`` shows the traceback of
every error.
"""

from __future__ import annotations

import errno
import os
import sys

from ..errors import UsageError
from .parser import build_parser

__all__ = ["build_parser", "main"]

# Errors of the machine rather than of the program: one line, not a traceback.
_ENVIRONMENT = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def main(argv=None) -> int:
    """Run ``modeinterp`` with ``argv`` (default ``sys.argv[1:]``; paths may be Path objects);
    returns the exit status."""
    if argv is not None:
        argv = [os.fspath(a) if isinstance(a, os.PathLike) else a for a in argv]
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)  # a bad flag: one line, exit status 2
    if extra:
        parser.exit(2, f"modeinterp {args.command}: error: {args.command} does not take "
                       f"{' '.join(extra)} (see modeinterp {args.command} --help)\n")
    try:
        return args.func(args)
    except UsageError as exc:
        return _fail(args, exc, 2)
    except BrokenPipeError:  # `modeinterp info | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for such a pipe
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT:
            raise
        return _fail(args, f"{exc.strerror}: {exc.filename}" if exc.filename else exc, 1)
    except KeyboardInterrupt:
        return _fail(args, "interrupted; rerun the same command to resume", 130)


def _fail(args, error, status: int) -> int:
    if args.debug:
        raise
    message = " ".join(str(error).split())  # one line, whatever the message held
    print(f"modeinterp {args.command}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
