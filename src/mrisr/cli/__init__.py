"""``mrisr``: the command-line entry point. The parser is :mod:`mrisr.cli.parser`, what each command does
with its options :mod:`mrisr.cli.commands`; the work itself lives in :mod:`mrisr.apps`."""

from __future__ import annotations

import sys

from mrisr import MRISRError
from mrisr.cli.parser import build_parser
from mrisr.console import NORMAL, QUIET, VERBOSE, console


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    level = QUIET if args.quiet else VERBOSE if args.verbose else NORMAL
    try:
        with console(level):
            args.func(args)
    except MRISRError as err:
        print(f"mrisr {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mrisr {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
