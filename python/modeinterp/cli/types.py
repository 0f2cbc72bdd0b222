"""The command line's value types: each checks its flag's value as it is parsed, so argparse
reports a bad one on one line (``argument --n-samples: must be an int >= 1, got '0'``)."""

from __future__ import annotations

import argparse


def _number(convert, what: str, ok):
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    return parse


COUNT = _number(int, "an int >= 1", lambda v: 1 <= v < 1 << 62)
NATURAL = _number(int, "an int >= 0", lambda v: 0 <= v < 1 << 63)
NONNEGATIVE = _number(float, "a number >= 0", lambda v: 0 <= v < float("inf"))
FRACTION = _number(float, "a number in [0, 1]", lambda v: 0 <= v <= 1)


def window(text: str):
    from ..sampling.window_spec import Window  # the one parser of a window's spellings

    try:
        return Window.parse(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("window ", "", 1)) from None


def filters(text: str):
    """``all``, or a comma-separated list of recursive filters, checked (what ``variance``
    alone means is :func:`~modeinterp.recursive.recursive_config`'s)."""
    from ..detect.filters import FILTERS

    if text == "all":
        return text
    names = tuple(n.strip() for n in text.split(","))
    bad = [n for n in names if n not in FILTERS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown filter {bad[0]!r}: choose all, or a "
                                         f"comma-separated list of {', '.join(FILTERS)}")
    return names
