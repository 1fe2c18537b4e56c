"""The help screen (`f1`): the fixed keys, the keys of the main screen, and where things are."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ..widgets.response_body import ResponseBody

# The keys that never change, in the order the footer shows them.
FIXED_KEYS: list[tuple[str, str]] = [
    ("ctrl+p", "Command palette: every action, searchable"),
    ("f1", "This help"),
    ("h", "History of runs: search, open, export"),
    ("k", "API keys of the providers"),
    ("r", "Run the highlighted agent or workflow"),
    ("escape", "Cancel the selected run (closes a dialog when one is open)"),
    ("q", "Quit (running runs are cancelled and saved)"),
]

MAIN_KEYS: list[tuple[str, str]] = [
    ("tab / shift+tab", "Move between the lists, the graph and the panes"),
    ("up / down, enter", "Move in a list; enter runs the highlighted item"),
    ("X", "Cancel every running run"),
    ("R", "Run the selected run again (retry a failed one)"),
    ("[ / ]", "Choose which step's pane is large"),
    ("n", "New agent (saved in the app)"),
    ("e", "Edit the highlighted saved agent, or derive a new one from it"),
    ("c", "Copy the large pane's text (OSC 52, works over SSH)"),
    ("1 / 2", "At narrow sizes: show the library or the run"),
]


def _table(rows: list[tuple[str, str]]) -> str:
    lines = ["| key | does |", "|---|---|"]
    lines += [f"| `{key}` | {what} |" for key, what in rows]
    return "\n".join(lines)


HELP_TEXT = f"""\
# Paracle

Run agents and multi-agent workflows from the keyboard. Everything below is also in the
command palette (`ctrl+p`).

## Always

{_table(FIXED_KEYS)}

## Main screen

{_table(MAIN_KEYS)}

## Running

- **Agent**: a task in several lines; `ctrl+s` runs it.
- **Workflow**: a form from the workflow's declared inputs. Choices are lists, required
  fields are marked `*`, arrays and objects are written as JSON (`["a", "b"]`).
- A step that needs approval opens a dialog with its output: `y` approves, `n` rejects,
  with an optional note.

## Over SSH

Works at 80x24 (the library and the run become two tabs), with the keyboard alone, with
`NO_COLOR`, and copies through OSC 52.
"""


class HelpScreen(ModalScreen[None]):
    """Keys and a short guide; `escape`, `f1` or `q` closes it."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="close"),
        # The keys that open help and quit elsewhere close it here, and follow a keymap's change.
        Binding("f1", "dismiss", "Close", show=False, id="help"),
        Binding("q", "dismiss", "Close", show=False, id="quit"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-body", classes="dialog"):
            yield Static("Help", classes="dialog-title")
            yield ResponseBody(id="help-text")

    def on_mount(self) -> None:
        body = self.query_one(ResponseBody)
        body.append(HELP_TEXT)
        body.focus()
        self._from_the_top(body)

    @work(group="help")
    async def _from_the_top(self, body: ResponseBody) -> None:
        # The body follows the end as text arrives; help is read from its first line.
        await body.scroll_home_when_rendered()
