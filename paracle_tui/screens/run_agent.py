"""Run an agent: choose it, write a task over several lines, optionally another model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from paracle_engine import AgentSpec

from ..safe import line, plain


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """What the form asks to run."""

    agent_id: str
    task: str
    model: str | None = None


class RunAgentForm(ModalScreen[AgentRequest | None]):
    """`ctrl+s` runs; enter in the task makes a new line; escape closes without running."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Run", priority=True, id="submit"),
        Binding("escape", "dismiss(None)", "Close", id="close"),
    ]

    def __init__(
        self,
        agents: Mapping[str, AgentSpec],
        *,
        agent_id: str | None = None,
        task: str = "",
        route: Callable[[AgentSpec], tuple[str, str]] | None = None,
    ) -> None:
        """`route(spec)` is the (provider, model) an agent's calls go to; by default its own."""
        super().__init__()
        self.agents = agents
        self.route = route or (lambda spec: (spec.provider, spec.model))
        self.agent_id = agent_id if agent_id in agents else next(iter(agents), None)
        self.initial_task = task

    def compose(self) -> ComposeResult:
        # Agent ids, providers and models come from the workspace: shown inert, never as markup.
        options = [
            (plain(f"{a.id}  ({' · '.join(self.route(a))})", one_line=True), a.id)
            for a in self.agents.values()
        ]
        with Vertical(id="run-agent", classes="dialog"):
            yield Static("Run an agent", classes="dialog-title")
            yield Label("Agent")
            yield Select(options, value=self.agent_id or Select.NULL, allow_blank=False, id="agent")
            yield Label("Task  [dim](enter: new line · ctrl+s: run)[/dim]")
            yield TextArea(self.initial_task, id="task", soft_wrap=True, tab_behavior="focus")
            yield Label("Model  [dim](empty: the agent's own)[/dim]")
            yield Input(placeholder=self._model_hint(), id="model")
            yield Static("", id="run-agent-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run  ctrl+s", variant="primary", id="run")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#task", TextArea).focus()

    def _model_hint(self) -> str:
        spec = self.agents.get(self.agent_id or "")
        return line(self.route(spec)[1]) if spec else ""

    @on(Select.Changed, "#agent")
    def _agent_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.agent_id = event.value
            self.query_one("#model", Input).placeholder = self._model_hint()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#run")
    @on(Input.Submitted, "#model")
    def action_submit(self) -> None:
        task = self.query_one("#task", TextArea).text
        error = self.query_one("#run-agent-error", Static)
        if not self.agent_id:
            error.update("Choose an agent.")
            return
        if not task.strip():
            error.update("Write a task first.")
            self.query_one("#task", TextArea).focus()
            return
        model = self.query_one("#model", Input).value.strip() or None
        self.dismiss(AgentRequest(self.agent_id, task, model))
