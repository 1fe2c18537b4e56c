"""A key that came from the keyring (not the environment) is still never stored."""

from __future__ import annotations

from support.loopback import Response

from paracle_engine.config import Settings
from paracle_engine.engine import Engine
from paracle_engine.workspace.loader import demo_workspace_path, load_workspace

KEY = "sk-ant-from-keyring-5555555555555555-wxyz"


class KeyringLike:
    async def get(self, provider: str) -> str | None:
        return KEY if provider == "anthropic" else None


async def test_keyring_key_pasted_into_a_task_is_redacted_on_disk(
    tmp_path, monkeypatch, loopback, fixtures_dir
):
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.url)
    loopback.enqueue(Response.from_fixture(fixtures_dir / "anthropic" / "stream-text.sse"))
    ws = load_workspace(demo_workspace_path())
    async with Engine(ws, settings=Settings(), keys=KeyringLike(), history=True) as engine:
        result = await engine.execute_agent("researcher", f"my key is {KEY}, keep it safe")
    assert result.output == "Hello, world! **Streaming** works."
    assert (
        loopback.requests[0].headers.get("authorization", "").endswith(KEY)
        or loopback.requests[0].headers.get("x-api-key") == KEY
    )
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "history.db" for p in files)
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
