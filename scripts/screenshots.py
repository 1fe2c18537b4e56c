"""`make screenshots`: drive the real app through its main flows and save SVG pictures.

Runs Paracle on a copy of the demo workspace with the simulated provider, in a private
PARACLE_HOME and an in-memory keyring (nothing of yours is read or written), and writes
screenshots/*.svg. The copy asks for approval before its final step, so the approval
dialog can be shown too.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "screenshots"
# Slow enough to catch a workflow mid-run, quick enough to finish in seconds.
PACE = 0.03
FAKE_KEY = "sk-ant-api03-" + "x" * 40 + "demo"


def use_memory_keyring() -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.entries: dict[tuple[str, str], str] = {("paracle", "anthropic"): FAKE_KEY}

        def get_password(self, service: str, username: str) -> str | None:
            return self.entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.entries[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.entries.pop((service, username), None)

    keyring.set_keyring(MemoryKeyring())


def workspace_with_approval(folder: Path) -> Path:
    """The demo workspace, its report asking a person to approve the final write-up."""
    from paracle_engine.workspace.loader import write_demo

    parac = write_demo(folder)
    report = parac / "workflows" / "definitions" / "research_report.yaml"
    text = report.read_text()
    text = text.replace(
        "    agent: senior-writer\n", "    agent: senior-writer\n    requires_approval: true\n", 1
    )
    report.write_text(text)
    return folder


async def until(pilot, condition: Callable[[], object], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await pilot.pause(0.05)


async def settle(pilot) -> None:
    """Let every Markdown body on screen draw what it was given."""
    from paracle_tui.widgets.response_body import ResponseBody

    for body in pilot.app.screen.query(ResponseBody):
        await body.rendered()
    await pilot.pause()


async def shoot(pilot, name: str) -> None:
    await settle(pilot)
    pilot.app.save_screenshot(f"{name}.svg", str(OUT))
    print(f"screenshots/{name}.svg")


def make_app(workspace: Path):
    from paracle_engine.config import Settings
    from paracle_engine.engine import Engine
    from paracle_engine.secrets import KeyStore
    from paracle_engine.workspace.loader import load_workspace
    from paracle_tui.app import ParacleApp

    engine = Engine(
        load_workspace(workspace),
        settings=Settings(simulated_pace=PACE),
        provider="simulated",
        keys=KeyStore(),
        history=True,
    )
    return ParacleApp(engine)


async def highlight(pilot, item: str) -> None:
    library = pilot.app.main.query_one("#library-list")
    library.focus()
    for _ in range(library.option_count + 1):
        if library.highlighted_id == item:
            return
        await pilot.press("down")
    raise SystemExit(f"{item} not found in the library")


async def wide_flows(workspace: Path) -> None:
    from paracle_tui.screens.approval import ApprovalModal

    app = make_app(workspace)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.booted.wait(), 10)
        await highlight(pilot, "workflow:research_report")
        await shoot(pilot, "main")
        await pilot.press("r")
        await shoot(pilot, "run-workflow-form")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.session.runs and len(app.session.running()) == 1)
        run = next(iter(app.session.runs.values()))
        await until(pilot, lambda: run.steps["background"].length > 300)
        await shoot(pilot, "workflow-running")
        await until(pilot, lambda: isinstance(app.screen, ApprovalModal))
        await shoot(pilot, "approval")
        await pilot.press("y")
        await until(pilot, lambda: run.status == "completed")
        await shoot(pilot, "workflow-finished")
        app.start_agent("critic", "Review the plan to move our batch jobs to spot instances")
        await until(pilot, lambda: not app.session.running() and len(app.session.runs) == 2)
        async with asyncio.timeout(10):
            while await app.runs.count_runs() < 2:
                await pilot.pause(0.05)
        await pilot.press("h", "slash")
        app.focused.insert_text_at_cursor("spot instances")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.query_one("#history-table").row_count == 1)
        await shoot(pilot, "history-search")
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "transcript", ""))
        await shoot(pilot, "history-run")
        await pilot.press("escape", "escape", "escape", "k")
        await until(pilot, lambda: app.screen.query_one("#keys-table").row_count > 0)
        await shoot(pilot, "keys")
        await pilot.press("escape", "f1")
        await shoot(pilot, "help")


async def narrow_flow(workspace: Path) -> None:
    app = make_app(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(app.booted.wait(), 10)
        await shoot(pilot, "narrow-library")
        app.start_workflow("quick_answer", {})
        await until(pilot, lambda: app.session.runs and not app.session.running())
        await shoot(pilot, "narrow-run")


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PARACLE_HOME"] = str(Path(tmp) / "home")
        for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
            os.environ.pop(var, None)
        use_memory_keyring()
        workspace = workspace_with_approval(Path(tmp) / "workspace")
        await wide_flows(workspace)
        await narrow_flow(workspace)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    asyncio.run(main())
