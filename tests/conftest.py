"""Shared fixtures. The loopback server and the wire fixtures live here; others may add more."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.loopback import LoopbackServer

# Vendored wire fixtures (tests/fixtures/README.md says where each came from).
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """The folder of recorded wire fixtures (anthropic/, openai/)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"wire fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture
async def loopback() -> AsyncIterator[LoopbackServer]:
    """A started loopback HTTP server with an empty script."""
    async with LoopbackServer() as server:
        yield server


class _LoopErrors(logging.Handler):
    """Collects what asyncio logs about tasks destroyed while pending and unretrieved errors."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Task was destroyed but it is pending" in message or "was never retrieved" in message:
            self.messages.append(message.splitlines()[0])


_loop_errors = _LoopErrors()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("asyncio").addHandler(_loop_errors)


@pytest.fixture(scope="session", autouse=True)
def _no_tasks_left_behind() -> Iterator[None]:
    """Fails the last test of the session (of each worker, under xdist) if asyncio reported a
    task destroyed while pending or an exception never retrieved: an error in a teardown
    reaches the controller's exit code, where a changed exit status of a worker would not."""
    yield
    gc.collect()
    if _loop_errors.messages:
        shown = "\n  ".join(_loop_errors.messages[:20])
        pytest.fail(f"asyncio reported tasks or errors left behind:\n  {shown}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole suite fails if any test left a pending task to be destroyed."""
    gc.collect()
    if _loop_errors.messages:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("asyncio reported tasks or errors left behind:", red=True)
            for message in _loop_errors.messages[:20]:
                reporter.write_line(f"  {message}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
