"""First run: the active provider has no API key. Enter one, or go on with the simulated one."""

from __future__ import annotations

from typing import Any, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from paracle_engine import ParacleError

from ..safe import plain

Choice = Literal["key", "simulated"]


class OnboardingModal(ModalScreen[Choice]):
    """Stores the pasted key through the engine's KeyStore; dismisses with what was chosen."""

    BINDINGS = [Binding("escape", "simulated", "Use simulated", id="use_simulated")]

    def __init__(self, *, provider: str, env_var: str | None, keys: Any) -> None:
        super().__init__()
        self.provider = provider
        self.env_var = env_var
        self.keys = keys

    def compose(self) -> ComposeResult:
        env = f" or set [b]{self.env_var}[/b]" if self.env_var else ""
        with Vertical(id="onboarding", classes="dialog"):
            yield Static(plain(f"No API key for {self.provider}"), classes="dialog-title")
            yield Static(
                f"Paste a key to keep it in the OS keyring{env}. Or try Paracle first with "
                "the simulated provider: offline, free, with made-up answers.",
                classes="dialog-help",
            )
            yield Input(placeholder=f"{self.provider} API key", password=True, id="onboarding-key")
            yield Static("", id="onboarding-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save key", variant="primary", id="save")
                yield Button("Continue with simulated", id="simulated")

    def on_mount(self) -> None:
        self.query_one("#onboarding-key", Input).focus()

    @on(Input.Submitted, "#onboarding-key")
    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self._store(self.query_one("#onboarding-key", Input).value)

    @on(Button.Pressed, "#simulated")
    def action_simulated(self) -> None:
        self.dismiss("simulated")

    @work(exclusive=True, group="onboarding")
    async def _store(self, key: str) -> None:
        error = self.query_one("#onboarding-error", Static)
        error.update("Saving…")
        try:
            await self.keys.set(self.provider, key)
        except ParacleError as exc:
            error.update(plain(exc.one_line()))
            return
        self.dismiss("key")
