"""Agents a person creates or edits in the app, kept in the history database."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from pydantic import ValidationError as PydanticValidationError

from paracle_engine.errors import BadInputError, HistoryError
from paracle_engine.history.store import HistoryStore
from paracle_engine.models import AgentSpec


@runtime_checkable
class AgentRepository(Protocol):
    """Where saved agents live. Every method is async."""

    async def get(self, agent_id: str) -> AgentSpec | None:
        """The saved agent, or None."""
        ...

    async def save(self, spec: AgentSpec) -> AgentSpec:
        """Create or replace the agent with `spec.id`; returns what was stored."""
        ...

    async def delete(self, agent_id: str) -> bool:
        """Remove the agent; False if there was none."""
        ...

    async def list(self) -> list[AgentSpec]:
        """Every saved agent, by id."""
        ...


class AsyncSQLiteRepository:
    """An AgentRepository storing each AgentSpec as JSON in the `agents` table."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    async def get(self, agent_id: str) -> AgentSpec | None:
        row = await self.store.fetchone("SELECT spec FROM agents WHERE id = ?", (agent_id,))
        return None if row is None else _parse(agent_id, row["spec"])

    async def save(self, spec: AgentSpec) -> AgentSpec:
        if not spec.id.strip():
            raise BadInputError("an agent needs an id", hint="give it a short name like `writer`")
        stored = spec.model_copy(update={"origin": "saved"})
        now = time.time()
        async with self.store.transaction() as db:
            await db.execute(
                "INSERT INTO agents(id, spec, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
                (stored.id, stored.model_dump_json(), now, now),
            )
        return stored

    async def delete(self, agent_id: str) -> bool:
        async with self.store.transaction() as db:
            cursor = await db.execute("DELETE FROM agents WHERE id = ?", (agent_id,))
            deleted = cursor.rowcount > 0
            await cursor.close()
        return deleted

    async def list(self) -> list[AgentSpec]:
        rows = await self.store.fetchall("SELECT id, spec FROM agents ORDER BY id")
        return [_parse(row["id"], row["spec"]) for row in rows]


def _parse(agent_id: str, text: str) -> AgentSpec:
    try:
        return AgentSpec.model_validate_json(text)
    except PydanticValidationError as exc:
        raise HistoryError(
            f"the saved agent {agent_id!r} cannot be read: {exc.errors()[0]['msg']}",
            hint="save it again from the app, or delete it",
        ) from exc
