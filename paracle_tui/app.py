"""ParacleApp: wires the engine to the screens. (The full app is being built.)"""

from __future__ import annotations

import argparse

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class ParacleApp(App[None]):
    TITLE = "Paracle"
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Paracle")
        yield Footer()


def run_app(args: argparse.Namespace, start: tuple[str, ...] | None = None) -> int:
    ParacleApp().run()
    return 0
