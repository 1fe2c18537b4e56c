"""Every key binding of the app has an id, so a keymap (`App.set_keymap`) can move it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from harness import booted, make_app, make_engine, wait_for
from textual.binding import Binding
from textual.command import CommandList
from textual.content import Content
from textual.dom import DOMNode

import paracle_tui
from paracle_tui.app import ParacleApp
from paracle_tui.screens.history import HistoryScreen
from paracle_tui.screens.main import MainScreen


def paracle_nodes() -> list[type[DOMNode]]:
    """Every App, Screen and Widget class defined in paracle_tui."""
    found: dict[str, type[DOMNode]] = {}
    for info in pkgutil.walk_packages(paracle_tui.__path__, "paracle_tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, DOMNode) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def test_every_binding_has_an_id_of_its_own() -> None:
    nodes = paracle_nodes()
    names = {cls.__name__ for cls in nodes}
    # The walk sees the app, its screens and its widgets (not an empty list that passes).
    assert {"ParacleApp", "MainScreen", "HistoryScreen", "DagView", "ResponsePane"} <= names
    checked = 0
    for cls in nodes:
        bindings = cls.__dict__.get("BINDINGS", [])
        ids = []
        for binding in bindings:
            assert isinstance(binding, Binding), f"{cls.__name__}: {binding!r} is not a Binding"
            assert binding.id, f"{cls.__name__}: the binding {binding.key!r} has no id"
            ids.append(binding.id)
            checked += 1
        # One id per meaning in a class: a keymap entry moves one binding, never two.
        assert len(ids) == len(set(ids)), f"{cls.__name__} repeats an id: {ids}"
    assert checked >= 30


async def test_a_keymap_moves_the_history_key(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        app.set_keymap({"history": "ctrl+y"})
        await pilot.press("h")  # the old key no longer opens it
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+y")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history")


def palette_line(app: ParacleApp, title: str) -> str:
    """The text of the palette's option whose title is `title`, as the list shows it."""
    matches = app.screen.query_one(CommandList)
    for index in range(matches.option_count):
        prompt = matches.get_option_at_index(index).prompt
        assert isinstance(prompt, Content), prompt
        text = prompt.plain
        if text.startswith(title):
            return text
    return ""


async def test_the_palette_names_the_key_a_keymap_moved(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: "(h)" in palette_line(app, "History"), "History (h)")
        await pilot.press("escape")
        app.set_keymap({"history": "ctrl+y"})
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: palette_line(app, "History"), "the History command")
        line = palette_line(app, "History")
        assert "(ctrl+y)" in line and "(h)" not in line
        # The keys the keymap left alone keep their own.
        assert "(k)" in palette_line(app, "API keys")
