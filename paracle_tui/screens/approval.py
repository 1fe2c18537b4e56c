"""The approval dialog: a step's output, approve or reject it, with an optional note."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ..safe import markup, plain
from ..widgets.response_body import ResponseBody


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
        Binding("y", "decide(True)", "Approve", id="approve"),
        Binding("n", "decide(False)", "Reject", id="reject"),
        Binding("escape", "later", "Decide later", id="later"),
    ]

    def __init__(self, *, run_label: str, step_id: str, output: str) -> None:
        super().__init__()
        self.run_label = run_label
        self.step_id = step_id
        self.output = output
        # (run id, step id) when an ApprovalDesk opened it.
        self.key: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="approval", classes="dialog"):
            # Step ids and run labels name a workspace's steps: values, never markup.
            yield Static(
                markup("Approve step [b]$step[/b]?", step=self.step_id), classes="dialog-title"
            )
            yield Static(
                plain(
                    f"{self.run_label} is waiting for you. Read the output, then approve it to "
                    "go on or reject it to fail the step. Escape decides later (a brings this back)."
                ),
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
        await body.scroll_home_when_rendered()

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


class ApprovalDesk:
    """Steps waiting for a person: a future each, and the dialog that settles it.

    `approver(run_id)` is what `Engine.run_workflow` calls; the dialog opens at once, and
    when it is put off, `ask(run_id, step_id)` opens it again. A run cancelled while its
    dialog is open takes the dialog away with it.
    """

    def __init__(self, app: App[Any], label: Callable[[str], str]) -> None:
        """`label(run_id)` names the run in the dialog ("Workflow research_report")."""
        self.app = app
        self.label = label
        self._waiting: dict[tuple[str, str], tuple[asyncio.Future[Verdict], str]] = {}

    def waiting(self, run_id: str | None = None) -> list[tuple[str, str]]:
        """(run id, step id) of the steps waiting, of one run or of all."""
        return [key for key in self._waiting if run_id is None or key[0] == run_id]

    def approver(self, run_id: str) -> Callable[[str, str], Awaitable[Any]]:
        async def approve(step_id: str, output: str) -> Any:
            from paracle_engine import Decision

            key = (run_id, step_id)
            future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
            self._waiting[key] = (future, output)
            self.ask(run_id, step_id)
            try:
                verdict = await future
            finally:
                self._waiting.pop(key, None)
                screen = self.app.screen
                if isinstance(screen, ApprovalModal) and screen.key == key:
                    screen.dismiss(None)
            return Decision(verdict.approved, verdict.note)

        return approve

    def ask(self, run_id: str, step_id: str) -> None:
        """Open the dialog of a waiting step."""
        pending = self._waiting.get((run_id, step_id))
        if pending is None:
            return
        future, output = pending

        def decided(verdict: Verdict | None) -> None:
            if verdict is not None and not future.done():
                future.set_result(verdict)

        modal = ApprovalModal(run_label=self.label(run_id), step_id=step_id, output=output)
        modal.key = (run_id, step_id)
        self.app.push_screen(modal, callback=decided)
