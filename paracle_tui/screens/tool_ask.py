"""The tool dialog: exactly what a tool call would do, then Allow once, Allow for this run, Deny.

`ToolDesk.asker` is the engine's `tool_asker`: each question waits in a queue and the dialogs
open one at a time, in the order asked. Escape is Deny: nothing runs unless a person said so.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from ..safe import markup, plain

if TYPE_CHECKING:
    from paracle_engine import ToolAnswer, ToolAsk


class ToolAskModal(ModalScreen["ToolAnswer"]):
    """One tool call: its preview (the command, or the diff), scrollable, and the three answers."""

    BINDINGS = [
        Binding("y", "answer('allow')", "Allow once", id="tool-allow"),
        Binding("a", "answer('allow_run')", "Allow for this run", id="tool-allow-run"),
        Binding("n", "answer('deny')", "Deny", id="tool-deny"),
        Binding("escape", "answer('deny')", "Deny", id="tool-deny-escape", show=False),
    ]
    DEFAULT_CSS = """
    ToolAskModal { align: center middle; }
    ToolAskModal #tool-ask { width: 90%; max-width: 110; height: auto; max-height: 90%; }
    ToolAskModal #tool-preview { height: auto; max-height: 24; border: round $primary; }
    ToolAskModal #tool-preview-text { width: auto; }
    """

    def __init__(self, ask: ToolAsk, *, run_label: str = "") -> None:
        super().__init__()
        self.ask = ask
        self.run_label = run_label

    def compose(self) -> ComposeResult:
        ask = self.ask
        with Vertical(id="tool-ask", classes="dialog"):
            yield Static(markup("Run tool [b]$name[/b]?", name=ask.name), classes="dialog-title")
            yield Static(
                markup(
                    "$run, step $step, asks to run this. Read it, then allow it once, for "
                    "the rest of this run, or deny it (Escape denies).",
                    run=self.run_label or ask.run_id,
                    step=ask.step_id,
                ),
                classes="dialog-help",
            )
            with VerticalScroll(id="tool-preview", can_focus=True):
                # The model wrote the arguments: shown inert, never read as markup.
                yield Static(plain(ask.preview or "(nothing to show)"), id="tool-preview-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Allow once  y", variant="success", id="allow")
                yield Button("Allow for this run  a", variant="warning", id="allow_run")
                yield Button("Deny  n", variant="error", id="deny")
            yield Footer()

    def on_mount(self) -> None:
        self.query_one("#deny", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("allow", "allow_run", "deny"):
            self.action_answer(event.button.id)

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)  # type: ignore[arg-type]


class ToolDesk:
    """Questions about tool calls, answered one dialog at a time, in the order asked."""

    def __init__(self, app: App[Any], label: Any = None) -> None:
        """`label(run_id)` names the run in the dialog."""
        self.app = app
        self.label = label
        self._turn = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._turn.locked()

    async def asker(self, ask: ToolAsk) -> ToolAnswer:
        """The engine's `tool_asker`: open the dialog (after those before it) and return its answer."""
        async with self._turn:
            label = self.label(ask.run_id) if self.label else ask.run_id
            modal = ToolAskModal(ask, run_label=label)
            answer: asyncio.Future[ToolAnswer] = asyncio.get_running_loop().create_future()

            def answered(value: ToolAnswer | None) -> None:
                if not answer.done():
                    answer.set_result(value or "deny")

            self.app.push_screen(modal, callback=answered)
            try:
                return await answer
            finally:
                if modal.is_attached and self.app.screen is modal and not answer.done():
                    modal.dismiss("deny")
