"""What the highlighted agent or workflow is, shown in the work area before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..safe import line, terminal_safe

if TYPE_CHECKING:
    from paracle_engine import AgentSpec, WorkflowSpec


_PROMPT_LINES = 12


class ItemDetails(VerticalScroll):
    """An agent's settings, inheritance and prompt, or a workflow's inputs and steps."""

    COMPONENT_CLASSES = {"details--title", "details--label", "details--dim", "details--error"}
    DEFAULT_CSS = """
    ItemDetails { height: 1fr; }
    ItemDetails > Static { width: 1fr; }
    """

    def compose(self):  # type: ignore[override]
        yield Static(id="details-text")

    _last: Callable[[], None] | None = None

    def notify_style_update(self) -> None:
        # A new theme: draw what is shown again in its colours.
        super().notify_style_update()
        if self._last is not None and self.is_mounted:
            self._last()

    def _s(self, name: str) -> Style:
        return self.get_component_rich_style(name)

    def _show(self, text: Text) -> None:
        self.query_one("#details-text", Static).update(text)
        self.scroll_home(animate=False)

    def _row(self, text: Text, label: str, value: str) -> None:
        text.append(f"{label:<12}", self._s("details--label"))
        text.append(f"{line(value)}\n")

    def show_agent(self, spec: AgentSpec, route: tuple[str, str] | None = None) -> None:
        """The agent's settings; `route` is the (provider, model) its calls really go to."""
        self._last = partial(self.show_agent, spec, route)
        provider, model = route or (spec.provider, spec.model)
        text = Text()
        text.append(line(spec.id), self._s("details--title"))
        if spec.name and spec.name != spec.id:
            text.append(f"  {line(spec.name)}", self._s("details--dim"))
        text.append("\n")
        if spec.description:
            text.append(line(" ".join(spec.description.split())) + "\n")
        text.append("\n")
        routes = (("provider", provider, spec.provider), ("model", model, spec.model))
        for label, used, own in routes:
            self._row(text, label, used)
            if used != own:  # the session overrides the agent's own: say both
                note = f"{'':<12}for this session; the agent names {line(own)}\n"
                text.append(note, self._s("details--dim"))
        if spec.temperature is not None:
            self._row(text, "temperature", f"{spec.temperature:g}")
        ancestors = spec.lineage or ([spec.parent] if spec.parent else [])
        if ancestors:
            self._row(text, "inherits", " ← ".join(ancestors))
        if spec.skills:
            self._row(text, "skills", ", ".join(spec.skills))
        if spec.tools:
            self._row(text, "tools", ", ".join(spec.tools))
        origin = {
            "workspace": "this workspace",
            "demo": "the demo workspace",
            "saved": "saved in the app",
        }
        self._row(text, "from", origin.get(spec.origin, spec.origin))
        prompt = terminal_safe(spec.system_prompt.strip())
        if prompt:
            lines = prompt.splitlines()
            text.append("\nSystem prompt\n", self._s("details--label"))
            text.append("\n".join(lines[:_PROMPT_LINES]) + "\n", self._s("details--dim"))
            if len(lines) > _PROMPT_LINES:
                text.append(f"… {len(lines) - _PROMPT_LINES} more lines\n", self._s("details--dim"))
        hint = "r run · e edit" if spec.origin == "saved" else "r run · e new agent based on it"
        text.append(f"\n{hint} · n new agent", self._s("details--dim"))
        self._show(text)

    def show_workflow(self, spec: WorkflowSpec) -> None:
        self._last = partial(self.show_workflow, spec)
        text = Text()
        text.append(line(spec.name), self._s("details--title"))
        if spec.version:
            text.append(f"  v{line(spec.version)}", self._s("details--dim"))
        text.append("\n")
        if spec.description:
            text.append(line(" ".join(spec.description.split())) + "\n")
        text.append("\n")
        count = len(spec.steps)
        self._row(text, "steps", f"{count}: " + ", ".join(s.id for s in spec.steps))
        approvals = [s.id for s in spec.steps if s.requires_approval]
        if approvals:
            self._row(text, "approval", ", ".join(approvals))
        if spec.inputs:
            text.append("\nInputs\n", self._s("details--label"))
            for name, decl in spec.inputs.items():
                kind = decl.type + (" *" if decl.required else "")
                if decl.enum:
                    kind += f" ({' | '.join(map(str, decl.enum))})"
                text.append(f"  {line(name)}", self._s("details--title"))
                text.append(f"  {line(kind)}\n", self._s("details--dim"))
        text.append("\nr run", self._s("details--dim"))
        self._show(text)

    def show_error(self, what: str, error: str) -> None:
        self._last = partial(self.show_error, what, error)
        text = Text()
        text.append(f"{line(what)}\n\n", self._s("details--title"))
        text.append(terminal_safe(error), self._s("details--error"))
        self._show(text)

    def show_text(self, message: str) -> None:
        self._last = partial(self.show_text, message)
        self._show(Text(terminal_safe(message), style=self._s("details--dim")))
