"""The one terminal sanitiser: every control is shown inert, text itself is kept."""

from __future__ import annotations

import re

import pytest

from paracle_engine.terminal import has_controls, terminal_safe, terminal_safe_line

HOSTILE = (
    "ok\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x1b\\"  # OSC 52: set the clipboard
    "\x1b]0;owned\x07"  # OSC 0: the window title, ended by BEL
    "\x1b[2J\x1b[H"  # CSI: clear, home
    "\x1bP+q\x1b\\"  # DCS
    "\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\"  # APC, PM, SOS
    "\x9b31m"  # a lone C1 CSI
    "\u202eevil\u2066x\u2069"  # bidi override, isolate
    "a\rb\x08\x00\x7f"
)

ANY_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_nothing_that_acts_survives() -> None:
    safe = terminal_safe(HOSTILE)
    assert ANY_CONTROL.search(safe) is None
    assert safe.isascii()


def test_what_was_sent_stays_readable() -> None:
    safe = terminal_safe(HOSTILE)
    assert "\\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=" in safe
    assert "\\x9b31m" in safe
    assert "\\u202eevil" in safe
    assert "a\\rb" in safe


def test_newlines_and_tabs_are_kept_and_crlf_is_a_newline() -> None:
    assert terminal_safe("a\n\tb\r\nc") == "a\n\tb\nc"


@pytest.mark.parametrize("text", ["", "plain text", "ünïcødé ✓ 漢字 🙂", "tab\tand\nnewline"])
def test_clean_text_is_returned_as_it_is(text: str) -> None:
    assert terminal_safe(text) is text
    assert not has_controls(text)


def test_each_delta_can_be_cleaned_alone() -> None:
    deltas = [HOSTILE[i : i + 3] for i in range(0, len(HOSTILE), 3)]
    assert "".join(terminal_safe(d) for d in deltas).replace("\\r\n", "\n") == terminal_safe(
        HOSTILE
    )


def test_one_line_text_loses_its_newlines_too() -> None:
    assert terminal_safe_line("a\nb\tc\x1b[2J") == "a b c\\x1b[2J"
