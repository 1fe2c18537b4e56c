"""The one sanitiser for text that reaches a terminal.

Model answers, tool output, server error bodies and file names come from outside. Written to
a terminal as they are, their control characters act: ``ESC ] 52`` sets the clipboard (over
SSH, the user's own), ``ESC ] 0`` the window title, ``ESC [ 2J`` clears the screen, a lone
C1 ``0x9b`` starts a CSI on some terminals, ``\\r`` overwrites a line, bidi overrides make
text read other than it is. :func:`terminal_safe` turns each of these characters into
visible, inert ASCII (``\\x1b``, ``\\x9b``, ``\\u202e``, ``\\r``), so the rest of a sequence
is just printable text. Newlines and tabs are kept.

Every front writes outside text through it: the CLI's stdout and stderr, progress lines,
history rendering and exports, and the TUI's widgets (Rich and Textual pass these through).
The data itself is never changed: history and ``--json`` keep what the provider sent.

It works character by character and keeps no state, so each streamed delta can be cleaned on
its own; text with nothing to clean (the usual case) is returned as it is after one scan.
"""

from __future__ import annotations

import re

__all__ = ["terminal_safe", "terminal_safe_line", "has_controls"]

# C0 controls but \t and \n, DEL, C1 controls, bidi embeddings/overrides and isolates,
# plus the line and paragraph separators (U+2028/U+2029) some terminals treat as newlines.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_FIND = re.compile(f"[{_UNSAFE}]")
# For one-line text (a progress line, a table cell, a title) newlines and tabs go too.
_FIND_LINE = re.compile(f"[{_UNSAFE}\t\n]")


def _visible(code: int) -> str:
    if code == 0x0D:
        return "\\r"
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


_CODES = [
    *range(0x00, 0x09),
    *range(0x0B, 0x20),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
]
_TABLE = {code: _visible(code) for code in _CODES}
_LINE_TABLE = {**_TABLE, 0x09: " ", 0x0A: " "}


def terminal_safe(text: str) -> str:
    """``text`` with every terminal control character shown as inert ASCII; ``\\n``, ``\\t`` kept.

    ``\\r\\n`` becomes ``\\n`` (Windows line ends are not an attack); a lone ``\\r`` is shown.
    """
    if not text or _FIND.search(text) is None:
        return text
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return text.translate(_TABLE)


def terminal_safe_line(text: str) -> str:
    """One line of ``text`` for a title, a cell or a progress line: controls shown, newlines
    and tabs become spaces."""
    if not text or _FIND_LINE.search(text) is None:
        return text
    return text.replace("\r\n", " ").translate(_LINE_TABLE)


def has_controls(text: str) -> bool:
    """True when :func:`terminal_safe` would change ``text``."""
    return _FIND.search(text) is not None
