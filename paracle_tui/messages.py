"""What the screens and the command palette ask of the app, as typed Textual messages.

A screen (or a palette command) posts one of these; it bubbles up to `ParacleApp`, which
handles it with `@on(...)`. Screens never call the app's actions, and the app keeps what
running, cancelling and opening screens means in one place. Requests that name no target
("run the highlighted item", "cancel the selected run") act on the main screen's selection.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class RunSelected(Message):
    """Run the agent or workflow highlighted in the library (opens its form)."""


class RunAgentRequested(Message):
    """Open the task form of an agent (the first one when `agent_id` is None)."""

    def __init__(self, agent_id: str | None = None, task: str = "") -> None:
        super().__init__()
        self.agent_id = agent_id
        self.task = task


class RunWorkflowRequested(Message):
    """Open the inputs form of a workflow (the first one when `name` is None)."""

    def __init__(self, name: str | None = None, values: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.name = name
        self.values = values


class CancelSelected(Message):
    """Cancel the run the main screen shows."""


class CancelAll(Message):
    """Cancel every run still running."""


class RetrySelected(Message):
    """Run the selected run again (a workflow resumes from its completed steps)."""


class ApprovePending(Message):
    """Bring back the approval dialog of a step waiting for a person."""


class NewAgentRequested(Message):
    """Open the agent editor on a new agent, based on `base` when given."""

    def __init__(self, base: str | None = None) -> None:
        super().__init__()
        self.base = base


class EditAgentRequested(Message):
    """Edit the highlighted saved agent, or base a new one on a workspace agent."""


class DeleteAgentRequested(Message):
    """Delete the highlighted agent saved in the app."""


class CopyPaneRequested(Message):
    """Copy the main screen's large pane to the clipboard."""


class UseProviderRequested(Message):
    """Send every agent to the provider `name` from now on."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class OpenHelp(Message):
    """Show the help screen."""


class OpenHistory(Message):
    """Show the recorded runs."""


class OpenKeys(Message):
    """Show the API keys screen."""
