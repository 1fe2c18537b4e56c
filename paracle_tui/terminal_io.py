"""The command line's stdout and stderr, with every write passed through the one sanitiser.

Model answers, server errors, file names and workspace values all reach the terminal through
``print`` or ``write`` somewhere in the commands. Rather than trust each of those calls to
remember, :func:`sanitised_stdio` puts a thin stream in front of ``sys.stdout`` and
``sys.stderr`` for the length of a command, and every write through it goes through
:func:`paracle_engine.terminal.terminal_safe`: control characters are shown as inert text
(``\\x1b``), newlines and tabs are kept.

The CLI's own escape sequences (the live progress redraw, Rich's colours) must still act, so
those writers take the stream underneath with :func:`unsanitised` and clean the outside text
they put in it themselves (``terminal_safe_line`` for a progress line, sanitised Rich ``Text``).

Only the standard library is imported at the top: the CLI's startup stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class SanitisedStream:
    """A text stream whose writes are cleaned by ``terminal_safe``; everything else is the
    wrapped stream's (``flush``, ``isatty``, ``fileno``, ``encoding``...)."""

    def __init__(self, stream: TextIO) -> None:
        from paracle_engine import terminal_safe

        self.unsanitised = stream
        self._clean = terminal_safe

    def write(self, text: str) -> int:
        self.unsanitised.write(self._clean(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unsanitised, name)


def unsanitised(stream: TextIO | SanitisedStream) -> TextIO:
    """The stream under a :class:`SanitisedStream`, for the CLI's own escape sequences only:
    whoever writes to it cleans the outside text in what it writes."""
    return stream.unsanitised if isinstance(stream, SanitisedStream) else stream


@contextmanager
def sanitised_stdio() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` sanitised until the block ends (then put back)."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, SanitisedStream):
        sys.stdout = SanitisedStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, SanitisedStream):
        sys.stderr = SanitisedStream(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
