"""Create or edit an agent made in the app: name, parent, provider, model, temperature, prompt.

The form hands the agent to a `save` coroutine (the engine's `save_agent`), shows its error
in place if it refuses, and dismisses with the saved agent's id.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from paracle_engine import PROVIDERS, AgentSpec, ParacleError

from ..safe import line, markup, plain

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def slug(name: str) -> str:
    """An agent id from a display name: `Code Reviewer` -> `code-reviewer`."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]


class AgentEditor(ModalScreen[str | None]):
    """`ctrl+s` saves. Editing keeps the id; a new agent may start from a `base` agent."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True, id="save"),
        Binding("escape", "dismiss(None)", "Close", id="close"),
    ]

    def __init__(
        self,
        agents: Mapping[str, AgentSpec],
        save: Callable[[AgentSpec], Awaitable[Any]],
        *,
        editing: AgentSpec | None = None,
        base: AgentSpec | None = None,
    ) -> None:
        super().__init__()
        self.agents = agents
        self.save = save
        self.editing = editing
        self.base = base

    def compose(self) -> ComposeResult:
        spec = self.editing
        base = self.base
        # Agent ids and models may come from a cloned workspace: shown inert, never as markup.
        title = markup("Edit agent [b]$id[/b]", id=spec.id) if spec else "New agent"
        parent = spec.parent if spec else (base.id if base else None)
        start = spec or base
        parents = [
            (plain(a, one_line=True), a) for a in sorted(self.agents) if not spec or a != spec.id
        ]
        providers = [(p, p) for p in PROVIDERS]
        provider = start.provider if start else "anthropic"
        temperature = "" if not start or start.temperature is None else f"{start.temperature:g}"
        with Vertical(id="agent-editor", classes="dialog"):
            yield Static(title, classes="dialog-title")
            with Grid(id="agent-fields"):
                yield Label("Name")
                yield Input(spec.label if spec else "", placeholder="Code reviewer", id="name")
                yield Label("Id")
                yield Input(
                    spec.id if spec else "",
                    placeholder="made from the name",
                    id="agent-id",
                    disabled=spec is not None,
                )
                yield Label("Parent")
                yield Select(parents, value=parent or Select.NULL, prompt="(none)", id="parent")
                yield Label("Provider")
                yield Select(providers, value=provider, allow_blank=False, id="provider")
                yield Label("Model")
                yield Input(
                    line(start.model) if start else "", placeholder="claude-sonnet-4.5", id="model"
                )
                yield Label("Temperature")
                yield Input(temperature, type="number", placeholder="0.7", id="temperature")
            yield Label("System prompt  [dim](empty: the parent's)[/dim]")
            prompt = spec.system_prompt if spec else ""
            yield TextArea(prompt, id="system-prompt", soft_wrap=True, tab_behavior="focus")
            yield Static("", id="agent-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save  ctrl+s", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Input.Changed, "#name")
    def _suggest_id(self, event: Input.Changed) -> None:
        if self.editing is None:
            self.query_one("#agent-id", Input).placeholder = (
                slug(event.value) or "made from the name"
            )

    @on(Select.Changed, "#parent")
    def _inherit(self, event: Select.Changed) -> None:
        # A new parent brings its provider and model, unless the person already chose some.
        parent = self.agents.get(event.value) if isinstance(event.value, str) else None
        model = self.query_one("#model", Input)
        if parent and not model.value:
            model.value = line(parent.model)
            self.query_one("#provider", Select).value = parent.provider

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        try:
            spec = self._spec()
        except ValueError as exc:
            self.query_one("#agent-error", Static).update(str(exc))
            return
        self._store(spec)

    def _spec(self) -> AgentSpec:
        """The agent the form describes; ValueError with a line for the person."""
        name = self.query_one("#name", Input).value.strip()
        id_input = self.query_one("#agent-id", Input)
        agent_id = self.editing.id if self.editing else (id_input.value.strip() or slug(name))
        if not agent_id:
            raise ValueError("Give the agent a name.")
        if not _ID.match(agent_id):
            raise ValueError("The id takes lowercase letters, digits, - and _ (at most 64).")
        if self.editing is None and agent_id in self.agents:
            raise ValueError(f"An agent {agent_id!r} exists already; choose another id.")
        parent = self.query_one("#parent", Select).value
        provider = self.query_one("#provider", Select).value
        model = self.query_one("#model", Input).value.strip()
        if not model:
            raise ValueError("Name a model (for example claude-sonnet-4.5).")
        raw_temp = self.query_one("#temperature", Input).value.strip()
        try:
            temperature = float(raw_temp) if raw_temp else None
        except ValueError:
            raise ValueError("The temperature is a number such as 0.7.") from None
        if temperature is not None and not 0 <= temperature <= 2:
            raise ValueError("The temperature goes from 0 to 2.")
        fields: dict[str, Any] = {
            "id": agent_id,
            "name": name or None,
            "parent": parent if isinstance(parent, str) else None,
            "provider": str(provider),
            "model": model,
            "temperature": temperature,
            "system_prompt": self.query_one("#system-prompt", TextArea).text.strip(),
            "origin": "saved",
        }
        if self.editing is not None:
            return self.editing.model_copy(update=fields)
        return AgentSpec(**fields)

    @work(exclusive=True, group="agent-editor")
    async def _store(self, spec: AgentSpec) -> None:
        error = self.query_one("#agent-error", Static)
        error.update("Saving…")
        try:
            await self.save(spec)
        except ParacleError as exc:
            error.update(exc.one_line())
            return
        self.dismiss(spec.id)
