"""Outside text for a widget: shown inert, and never read as markup.

Names and descriptions from a cloned `.parac/`, rows of the history and a server's error
messages come from outside. Rich and Textual write their control characters to the terminal
as they are (`ESC ] 52` would set the clipboard), and a `str` given to `Static`, `Label`, a
`DataTable` cell or a toast is parsed as markup (`[link=...]`). Widgets showing such text
pass it through these helpers: the one sanitiser (`paracle_engine.terminal`) shows each
control as inert ASCII, and what goes to a widget is `Content`, which is not parsed.
"""

from __future__ import annotations

from textual.content import Content

from paracle_engine import terminal_safe, terminal_safe_line

__all__ = ["line", "markup", "plain", "terminal_safe", "terminal_safe_line"]


def line(value: object) -> str:
    """`value` as one line of terminal-safe text ("" for None)."""
    return "" if value is None else terminal_safe_line(str(value))


def plain(value: object, *, one_line: bool = False) -> Content:
    """`value` as Content a widget shows as it is: controls inert, brackets as brackets."""
    text = "" if value is None else str(value)
    return Content(terminal_safe_line(text) if one_line else terminal_safe(text))


def markup(template: str, **values: object) -> Content:
    """Paracle's own markup `template` with outside `values` put in as `$name`, as plain text.

    `markup("Run workflow [b]$name[/b]", name=spec.name)`: the template is trusted, each value
    is made one terminal-safe line and is never parsed.
    """
    return Content.from_markup(template, **{key: line(value) for key, value in values.items()})
