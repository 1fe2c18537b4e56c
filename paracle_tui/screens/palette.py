"""The command palette's Paracle commands (`ctrl+p`): every action, and a run for each item.

Actions are discovered with an empty query; "Run agent X" and "Run workflow Y" appear when
searched for, so a long workspace does not flood the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from ..app import ParacleApp

# (title, help, app action name); the key in parentheses is the action's binding.
ACTIONS: list[tuple[str, str, str]] = [
    ("Help", "Keys and a short guide (f1)", "help"),
    ("History", "Recent runs: search, open, export (h)", "history"),
    ("API keys", "Where each provider's key comes from; set or delete one (k)", "keys"),
    ("Run selected", "Run the highlighted agent or workflow (r)", "run_selected"),
    ("Cancel run", "Cancel the selected run (escape)", "cancel_selected"),
    ("Cancel all runs", "Cancel everything that runs (X)", "cancel_all"),
    ("Retry run", "Run the selected run again; a workflow resumes (R)", "retry_run"),
    ("Approve waiting step", "Open the approval dialog again (a)", "approve_pending"),
    ("New agent", "Create an agent saved in the app (n)", "new_agent"),
    ("Edit agent", "Edit the highlighted saved agent, or base a new one on it (e)", "edit_agent"),
    ("Delete agent", "Delete the highlighted agent saved in the app", "delete_agent"),
    ("Copy pane", "Copy the large pane's text to the clipboard (c)", "copy_pane"),
    (
        "Use simulated provider",
        "Send every agent to the offline simulated provider",
        "use_simulated",
    ),
]


class ParacleCommands(Provider):
    """Paracle's actions for the palette (Textual's own add Theme, Quit, Screenshot...)."""

    @property
    def papp(self) -> ParacleApp:
        return self.app  # type: ignore[return-value]

    def commands(self, *, with_items: bool) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app = self.papp
        for title, help_text, action in ACTIONS:
            yield title, help_text, getattr(app, f"action_{action}")
        if not with_items or app.engine is None:
            return
        for agent_id in app.engine.agents:
            yield (
                f"Run agent {agent_id}",
                "Open its task form",
                partial(app.action_run_agent, agent_id),
            )
        for name in app.engine.workflows:
            yield (
                f"Run workflow {name}",
                "Open its inputs form",
                partial(app.action_run_workflow, name),
            )

    async def discover(self) -> Hits:
        for title, help_text, command in self.commands(with_items=False):
            yield DiscoveryHit(title, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, command in self.commands(with_items=True):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), command, help=help_text)
