"""The approval dialog: a step's output, approve or reject it, with an optional note."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ..widgets.response_pane import ResponseBody


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the person decided about a step."""

    approved: bool
    note: str | None = None


class ApprovalModal(ModalScreen[Verdict | None]):
    """Shows `output` of `step_id`; `y` approves, `n` rejects (outside the note field).

    Escape dismisses with None: the decision stays open and the step keeps waiting (`a` on
    the main screen brings the dialog back), so closing it is never a rejection by accident.
    """

    BINDINGS = [
        Binding("y", "decide(True)", "Approve"),
        Binding("n", "decide(False)", "Reject"),
        Binding("escape", "later", "Decide later"),
    ]

    def __init__(self, *, run_label: str, step_id: str, output: str) -> None:
        super().__init__()
        self.run_label = run_label
        self.step_id = step_id
        self.output = output

    def compose(self) -> ComposeResult:
        with Vertical(id="approval", classes="dialog"):
            yield Static(f"Approve step [b]{self.step_id}[/b]?", classes="dialog-title")
            yield Static(
                f"{self.run_label} is waiting for you. Read the output, then approve it "
                "to go on or reject it to fail the step. Escape puts it off; `a` brings it back.",
                classes="dialog-help",
            )
            yield ResponseBody(id="approval-output")
            yield Input(placeholder="Note (optional), kept with the decision", id="approval-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Approve  y", variant="success", id="approve")
                yield Button("Reject  n", variant="error", id="reject")

    def on_mount(self) -> None:
        body = self.query_one(ResponseBody)
        body.append(self.output or "*(the step wrote nothing)*")
        self.query_one("#approve", Button).focus()
        self._from_the_top(body)

    @work(group="approval")
    async def _from_the_top(self, body: ResponseBody) -> None:
        # The body follows the end as text arrives; an answer is read from its first line.
        await body.rendered()
        body.scroll_home(animate=False, immediate=True)

    @on(Button.Pressed, "#approve")
    def _approve(self) -> None:
        self.action_decide(True)

    @on(Button.Pressed, "#reject")
    def _reject(self) -> None:
        self.action_decide(False)

    @on(Input.Submitted, "#approval-note")
    def _note_done(self) -> None:
        self.query_one("#approve", Button).focus()

    def action_later(self) -> None:
        self.dismiss(None)

    def action_decide(self, approved: bool) -> None:
        note = self.query_one("#approval-note", Input).value.strip() or None
        self.dismiss(Verdict(approved, note))
