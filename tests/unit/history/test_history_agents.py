"""Agents saved from the app: AgentRepository over SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from paracle_engine.errors import BadInputError, HistoryError
from paracle_engine.history import AgentRepository, AsyncSQLiteRepository, HistoryStore
from paracle_engine.models import AgentSpec


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HistoryStore]:
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path))
    store = await HistoryStore.open()
    yield store
    await store.aclose()


def spec(agent_id: str, **fields: object) -> AgentSpec:
    return AgentSpec(id=agent_id, system_prompt=f"You are {agent_id}.", **fields)


async def test_saved_agents_outlive_the_repository_that_saved_them(store: HistoryStore) -> None:
    repo: AgentRepository = AsyncSQLiteRepository(store)
    await repo.save(spec("writer", temperature=0.3))
    again: AgentRepository = AsyncSQLiteRepository(store)
    got = await again.get("writer")
    assert got is not None and (got.id, got.temperature, got.origin) == ("writer", 0.3, "saved")


async def test_save_get_list_delete(store: HistoryStore) -> None:
    repo = AsyncSQLiteRepository(store)
    assert await repo.get("writer") is None
    saved = await repo.save(
        spec(
            "writer",
            temperature=0.2,
            tools=["search"],
            metadata={"role": "author"},
            origin="workspace",
        )
    )
    assert saved.origin == "saved"
    await repo.save(spec("critic"))
    got = await repo.get("writer")
    assert got is not None
    assert (got.temperature, got.tools, got.metadata, got.origin) == (
        0.2,
        ["search"],
        {"role": "author"},
        "saved",
    )
    assert [a.id for a in await repo.list()] == ["critic", "writer"]
    await repo.save(spec("writer", model="other-model"))  # replaces
    assert (await repo.get("writer")).model == "other-model"  # type: ignore[union-attr]
    assert len(await repo.list()) == 2
    assert await repo.delete("writer") is True
    assert await repo.delete("writer") is False
    assert [a.id for a in await repo.list()] == ["critic"]


async def test_unknown_fields_survive_the_round_trip(store: HistoryStore) -> None:
    repo = AsyncSQLiteRepository(store)
    await repo.save(AgentSpec(id="x", responsibilities=["review"]))
    got = await repo.get("x")
    assert got is not None and got.model_extra == {"responsibilities": ["review"]}


async def test_reopening_keeps_agents(store: HistoryStore) -> None:
    await AsyncSQLiteRepository(store).save(spec("keeper"))
    async with await HistoryStore.open(store.path) as again:
        assert (await AsyncSQLiteRepository(again).get("keeper")) is not None


async def test_bad_input_and_damaged_rows_give_clear_errors(store: HistoryStore) -> None:
    repo = AsyncSQLiteRepository(store)
    with pytest.raises(BadInputError):
        await repo.save(spec(" "))
    async with store.transaction() as db:
        await db.execute(
            "INSERT INTO agents(id, spec, created_at, updated_at) VALUES ('bad', '{\"id\": 3}', 0, 0)"
        )
    with pytest.raises(HistoryError, match="'bad' cannot be read"):
        await repo.get("bad")
