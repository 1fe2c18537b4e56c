"""The workspace's agents and workflows in one keyboard list.

Agents are shown as their inheritance tree (a child under its parent), each with the provider
and model its calls really go to (a session's `--provider simulated` wins over the agent's own);
agents made in the app are marked `saved`. Option ids are `agent:<id>` and
`workflow:<name>`, so a screen can tell what is highlighted without keeping a second index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ..safe import line

if TYPE_CHECKING:
    from paracle_engine import AgentSpec


def agent_tree(agents: Mapping[str, AgentSpec]) -> list[tuple[AgentSpec, int]]:
    """Agents in display order with their depth: roots sorted by id, children under parents."""
    children: dict[str | None, list[AgentSpec]] = {}
    for spec in agents.values():
        parent = spec.parent if spec.parent in agents and spec.parent != spec.id else None
        children.setdefault(parent, []).append(spec)
    out: list[tuple[AgentSpec, int]] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for spec in sorted(children.get(parent, []), key=lambda s: s.id):
            if spec.id in seen:
                continue
            seen.add(spec.id)
            out.append((spec, depth))
            walk(spec.id, depth + 1)

    walk(None, 0)
    # Anything left belongs to a cycle the loader would have refused; list it flat anyway.
    out += [(s, 0) for s in sorted(agents.values(), key=lambda s: s.id) if s.id not in seen]
    return out


class Library(OptionList):
    """Agents (as an inheritance tree) and workflows; enter runs, `e` edits a saved agent."""

    DEFAULT_CSS = """
    Library { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def fill(
        self,
        agents: Mapping[str, AgentSpec],
        workflows: Iterable[tuple[str, str | None]],
        *,
        keep: str | None = None,
        route: Callable[[AgentSpec], tuple[str, str]] | None = None,
    ) -> None:
        """Replace the list; `workflows` is (name, description). Keeps the highlight on `keep`.

        `route(spec)` is the (provider, model) an agent's calls go to; by default its own.
        """
        route = route or (lambda spec: (spec.provider, spec.model))
        keep = keep or self.highlighted_id
        self.clear_options()
        options: list[Option] = [Option(self._heading("Agents", len(agents)), disabled=True)]
        for spec, depth in agent_tree(agents):
            prompt = self._agent_prompt(spec, depth, *route(spec))
            options.append(Option(prompt, id=f"agent:{spec.id}"))
        flows = list(workflows)
        options.append(Option(self._heading("Workflows", len(flows)), disabled=True))
        for name, description in flows:
            options.append(Option(self._workflow_prompt(name, description), id=f"workflow:{name}"))
        self.add_options(options)
        if keep is not None:
            try:
                self.highlighted = self.get_option_index(keep)
                return
            except Exception:  # the kept item is gone (deleted agent): fall through
                pass
        self.highlighted = 1 if len(agents) else (2 if flows else None)

    @property
    def highlighted_id(self) -> str | None:
        """`agent:<id>` or `workflow:<name>` of the highlighted option, if any."""
        if self.highlighted is None or self.option_count == 0:
            return None
        return self.get_option_at_index(self.highlighted).id

    # ------------------------------------------------------------------ prompts
    # Styles are theme variables inside the prompt, so they follow a theme change.

    def _heading(self, title: str, count: int) -> Content:
        return Content.assemble((f"{title.upper()}  {count}", "bold $foreground-muted"))

    def _agent_prompt(self, spec: AgentSpec, depth: int, provider: str, model: str) -> Content:
        indent = "  " * (depth - 1) + "└ " if depth else ""
        meta_indent = "  " * depth + "  "
        parts: list[str | tuple[str, str]] = [(indent, "$foreground-muted"), line(spec.id)]
        if spec.origin == "saved":
            parts.append(("  saved", "italic $text-accent"))
        parts.append((f"\n{meta_indent}{line(provider)} · {line(model)}", "$foreground-muted"))
        return Content.assemble(*parts)

    def _workflow_prompt(self, name: str, description: str | None) -> Content:
        # Names and descriptions come from the workspace's files: shown inert, as text.
        if not description:
            return Content(line(name))
        first = line(" ".join(description.split()))
        return Content.assemble(line(name), (f"\n  {first}", "$foreground-muted"))
