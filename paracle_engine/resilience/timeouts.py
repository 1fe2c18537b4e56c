"""Timeouts that say which limit fired: `execute_with_timeout` raises OperationTimeoutError."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import TypeVar

from paracle_engine.errors import OperationTimeoutError

T = TypeVar("T")


async def execute_with_timeout(
    coro: Awaitable[T], seconds: float | None, kind: str = "total", *, what: str = ""
) -> T:
    """Await `coro`, cancelling it after `seconds` (None: no limit).

    Raises OperationTimeoutError(kind, seconds) when this timeout fired; a TimeoutError the
    awaited code raises on its own, and a cancellation from outside, pass through unchanged.
    """
    if seconds is None:
        return await coro
    scope = asyncio.timeout(max(0.0, seconds))
    try:
        async with scope:
            return await coro
    except TimeoutError as exc:
        if scope.expired():
            raise OperationTimeoutError(kind, seconds, what=what) from exc
        raise
    finally:
        # A coroutine that never started (no running task) must still be closed, unawaited.
        if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            coro.close()
