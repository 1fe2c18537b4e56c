"""The command palette's Paracle commands (`ctrl+p`): every action, and a run for each item.

Each command posts a message of `paracle_tui.messages` to the app, as a key would.

Actions are discovered with an empty query; "Run agent X" and "Run workflow Y" appear when
searched for, so a long workspace does not flood the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message

from .. import messages as msg
from .main import MainScreen

if TYPE_CHECKING:
    from ..app import ParacleApp

# (title, help, the id of the binding that does the same, the message the command posts);
# the help shows that binding's key as it is now (`key_hints`), after any keymap.
ACTIONS: list[tuple[str, str, str | None, Callable[[], Message]]] = [
    ("Help", "Keys and a short guide", "help", msg.OpenHelp),
    ("History", "Recent runs: search, open, export", "history", msg.OpenHistory),
    (
        "API keys",
        "Where each provider's key comes from; set or delete one",
        "keys",
        msg.OpenKeys,
    ),
    ("Run selected", "Run the highlighted agent or workflow", "run", msg.RunSelected),
    ("Cancel run", "Cancel the selected run", "cancel", msg.CancelSelected),
    ("Cancel all runs", "Cancel everything that runs", "cancel_all", msg.CancelAll),
    (
        "Retry run",
        "Run the selected run again; a workflow resumes",
        "retry",
        msg.RetrySelected,
    ),
    (
        "Approve waiting step",
        "Open the approval dialog again",
        "approve_pending",
        msg.ApprovePending,
    ),
    ("New agent", "Create an agent saved in the app", "new_agent", msg.NewAgentRequested),
    (
        "Edit agent",
        "Edit the highlighted saved agent, or base a new one on it",
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
        "Copy the large pane's text to the clipboard",
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


def key_hints(app: ParacleApp) -> dict[str, str]:
    """The key each binding id of the app and the main screen answers to now.

    Read from the main screen's live bindings (the app's keymap applied), so a key that
    `App.set_keymap` moved shows where it went; a binding not live at the moment (no main
    screen yet) shows its class's key."""
    hints: dict[str, str] = {}
    for binding in [*type(app).BINDINGS, *MainScreen.BINDINGS]:
        if isinstance(binding, Binding) and binding.id:
            hints.setdefault(binding.id, binding.key)
    main = next((s for s in app.screen_stack if isinstance(s, MainScreen)), None)
    if main is None:
        return hints
    live: dict[str, str] = {}
    for active in main.active_bindings.values():
        if active.binding.id and active.node in (main, app):
            live.setdefault(active.binding.id, active.binding.key)
    return {**hints, **live}


class ParacleCommands(Provider):
    """Paracle's actions for the palette (Textual's own add Theme, Quit, Screenshot...).

    A command posts its message to the app, as the screens' keys do."""

    def _post(self, make: Callable[[], Message]) -> Callable[[], object]:
        return lambda: self.app.post_message(make())

    def commands(self, *, with_items: bool) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app = self.papp
        keys = key_hints(app)
        for title, help_text, binding_id, make in ACTIONS:
            key = keys.get(binding_id) if binding_id else None
            yield title, f"{help_text} ({key})" if key else help_text, self._post(make)
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
