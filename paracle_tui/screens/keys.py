"""The keys screen (`k`): where each provider's API key comes from; set or delete keyring keys.

Keys are only ever shown masked. Setting one stores it in the OS keyring through the engine's
KeyStore; a key from the environment wins over the keyring and the table says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Static

from paracle_engine import ParacleError

from ..safe import plain

SOURCE_LABELS = {"env": "environment", "keyring": "OS keyring", "none": "—"}


class KeysScreen(Screen[None]):
    """A table of providers that take a key; `s` or enter sets one, `d` deletes it."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("s", "set_key", "Set key", id="set_key"),
        Binding("d", "delete_key", "Delete key", id="delete_key"),
    ]

    def __init__(
        self,
        keys: Any,
        *,
        used_by: Mapping[str, int] | None = None,
        on_changed: Callable[[str], Awaitable[Any]] | None = None,
    ) -> None:
        """`keys` is the engine's KeyStore; `used_by` counts the agents naming each provider;
        `on_changed(provider)` runs after a key changed."""
        super().__init__()
        self.keys = keys
        self.used_by = dict(used_by or {})
        self.on_changed = on_changed

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="keys-body"):
            yield Static("API keys", classes="screen-title")
            yield Static(
                "A key in the provider's environment variable wins; otherwise Paracle reads "
                "the OS keyring (service `paracle`). Keys are shown masked.",
                classes="screen-help",
            )
            yield DataTable(id="keys-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="keys-backend", classes="screen-help")
            with Horizontal(id="key-entry"):
                yield Input(password=True, id="key-input", placeholder="choose a provider, then s")
                yield Button("Save", variant="primary", id="key-save")
            yield Static("", id="keys-message", classes="form-error")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Provider", "Source", "Key", "Variable", "Used by")
        self.query_one("#key-entry").display = False
        table.focus()
        self.refresh_table()

    @work(exclusive=True, group="keys-refresh")
    async def refresh_table(self, keep: str | None = None) -> None:
        table = self.query_one(DataTable)
        keep = keep or self._provider()
        status = await self.keys.status()
        table.clear()
        for info in status:
            source = SOURCE_LABELS.get(info.source, info.source)
            count = self.used_by.get(info.provider, 0)
            used = f"{count} agent{'s' if count != 1 else ''}" if count else ""
            table.add_row(
                info.provider,
                source,
                info.masked or "",
                info.env_var or "",
                used,
                key=info.provider,
            )
        if keep is not None:
            try:
                table.move_cursor(row=table.get_row_index(keep))
            except Exception:
                pass
        backend = await self.keys.backend_info()
        note = self.query_one("#keys-backend", Static)
        if backend.ok:
            note.update(plain(f"Keyring: {backend.name}"))
        else:
            note.update(plain(f"Keyring unavailable: {backend.error}"))

    def _provider(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_set_key()

    def action_set_key(self) -> None:
        provider = self._provider()
        if provider is None:
            return
        entry = self.query_one("#key-entry")
        entry.display = True
        field = self.query_one("#key-input", Input)
        field.placeholder = f"paste the {provider} key, then enter (escape: cancel)"
        field.value = ""
        field.focus()

    def action_back(self) -> None:
        entry = self.query_one("#key-entry")
        if entry.display:
            entry.display = False
            self.query_one("#key-input", Input).value = ""
            self.query_one(DataTable).focus()
            return
        self.dismiss(None)

    @on(Input.Submitted, "#key-input")
    @on(Button.Pressed, "#key-save")
    def _save(self) -> None:
        provider = self._provider()
        if provider is not None:
            self._store(provider, self.query_one("#key-input", Input).value)

    @work(exclusive=True, group="keys-change")
    async def _store(self, provider: str, key: str) -> None:
        message = self.query_one("#keys-message", Static)
        try:
            info = await self.keys.set(provider, key)
        except ParacleError as exc:
            message.update(plain(exc.one_line()))
            return
        message.update(f"Saved the {provider} key ({info.masked}) in the OS keyring.")
        await self._changed(provider)
        self.query_one("#key-input", Input).value = ""
        self.query_one("#key-entry").display = False
        self.query_one(DataTable).focus()
        self.refresh_table(provider)

    async def _changed(self, provider: str) -> None:
        if self.on_changed is not None:
            await self.on_changed(provider)

    @work(exclusive=True, group="keys-change")
    async def action_delete_key(self) -> None:
        provider = self._provider()
        if provider is None:
            return
        message = self.query_one("#keys-message", Static)
        try:
            await self.keys.delete(provider)
        except ParacleError as exc:
            message.update(plain(exc.one_line()))
            return
        message.update(f"Deleted the {provider} key from the OS keyring.")
        await self._changed(provider)
        self.refresh_table(provider)
