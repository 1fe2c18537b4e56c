"""The command palette's Paracle commands (`ctrl+p`): every action, and a run for each item.

Each command posts a message of `paracle_tui.messages` to the app, as a key would.

Actions are discovered with an empty query; "Run agent X" and "Run workflow Y" appear when
searched for, so a long workspace does not flood the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message

from .. import messages as msg

if TYPE_CHECKING:
    from ..app import ParacleApp

# (title, help, the id of the binding that does the same, the message the command posts);
# the key in parentheses is that binding's default key.
ACTIONS: list[tuple[str, str, str | None, Callable[[], Message]]] = [
    ("Help", "Keys and a short guide (f1)", "help", msg.OpenHelp),
    ("History", "Recent runs: search, open, export (h)", "history", msg.OpenHistory),
    (
        "API keys",
        "Where each provider's key comes from; set or delete one (k)",
        "keys",
        msg.OpenKeys,
    ),
    ("Run selected", "Run the highlighted agent or workflow (r)", "run", msg.RunSelected),
    ("Cancel run", "Cancel the selected run (escape)", "cancel", msg.CancelSelected),
    ("Cancel all runs", "Cancel everything that runs (X)", "cancel_all", msg.CancelAll),
    (
        "Retry run",
        "Run the selected run again; a workflow resumes (R)",
        "retry",
        msg.RetrySelected,
    ),
    (
        "Approve waiting step",
        "Open the approval dialog again (a)",
        "approve_pending",
        msg.ApprovePending,
    ),
    ("New agent", "Create an agent saved in the app (n)", "new_agent", msg.NewAgentRequested),
    (
        "Edit agent",
        "Edit the highlighted saved agent, or base a new one on it (e)",
        "edit_agent",
        msg.EditAgentRequested,
    ),
    (
        "Delete agent",
        "Delete the highlighted agent saved in the app",
        None,
        msg.DeleteAgentRequested,
    ),
    (
        "Copy pane",
        "Copy the large pane's text to the clipboard (c)",
        "copy",
        msg.CopyPaneRequested,
    ),
    (
        "Use simulated provider",
        "Send every agent to the offline simulated provider",
        None,
        partial(msg.UseProviderRequested, "simulated"),
    ),
]


class ParacleCommands(Provider):
    """Paracle's actions for the palette (Textual's own add Theme, Quit, Screenshot...).

    A command posts its message to the app, as the screens' keys do."""

    def _post(self, make: Callable[[], Message]) -> Callable[[], object]:
        return lambda: self.app.post_message(make())

    def commands(self, *, with_items: bool) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app = self.papp
        for title, help_text, _, make in ACTIONS:
            yield title, help_text, self._post(make)
        if not with_items or app.engine is None:
            return
        for agent_id in app.engine.agents:
            yield (
                f"Run agent {agent_id}",
                "Open its task form",
                self._post(partial(msg.RunAgentRequested, agent_id)),
            )
        for name in app.engine.workflows:
            yield (
                f"Run workflow {name}",
                "Open its inputs form",
                self._post(partial(msg.RunWorkflowRequested, name)),
            )

    @property
    def papp(self) -> ParacleApp:
        return self.app  # type: ignore[return-value]

    async def discover(self) -> Hits:
        for title, help_text, command in self.commands(with_items=False):
            yield DiscoveryHit(title, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, command in self.commands(with_items=True):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), command, help=help_text)
