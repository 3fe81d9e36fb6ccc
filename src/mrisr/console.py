"""What mrisr says while it works: results on stdout, warnings on stderr, at three levels.

Library code logs to the ``mrisr`` logger and never prints; the command line picks the level. Quiet keeps
warnings and errors only and hides the progress bars. Normal adds the progress bars, the scanner report and
a summary at the end. Verbose adds the details of each step. A warning is written "what happened; why; what
to do": below verbose the console shows what happened and where the whole of it is kept.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("mrisr")

QUIET, NORMAL, VERBOSE = logging.WARNING, logging.INFO, logging.DEBUG


def headline(message: str) -> str:
    """What a warning says happened: its text up to the first semicolon."""
    return message.split("; ", 1)[0]


def warn(message: str, details: str | Path | None = None) -> None:
    """Log a warning; ``details`` says where its whole text is kept (a file, or a command that shows it), and
    then the console shows the headline and that place alone."""
    log.warning(message, extra={"details": str(details) if details else None})


def showing_progress() -> bool:
    """Whether progress bars are wanted (not when quiet)."""
    return log.getEffectiveLevel() <= NORMAL


class ConsoleHandler(logging.Handler):
    """Information to the current ``sys.stdout``, warnings and errors to ``sys.stderr``, each on one line
    unless ``verbose``. The streams are looked up at each record, so redirecting them later works."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno < logging.WARNING:
            print(message, file=sys.stdout, flush=True)
            return
        details = getattr(record, "details", None)
        if details and not self.verbose:
            message = f"{headline(message)} (more: {details})"
        print(f"{record.levelname.lower()}: {message}", file=sys.stderr, flush=True)


@contextmanager
def console(level: int = NORMAL) -> Iterator[None]:
    """Send the ``mrisr`` logger, and Python warnings raised meanwhile, to the console at ``level``."""
    handler = ConsoleHandler(verbose=level <= VERBOSE)
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *args, **kwargs: log.warning(str(message))
        try:
            yield
        finally:
            log.removeHandler(handler)
            log.setLevel(saved[0])
            log.propagate = saved[1]
