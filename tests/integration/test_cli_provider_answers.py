"""The real `paracle` command against a loopback server that answers badly, or is never asked
because the base URL is unusable."""

from __future__ import annotations

import pytest
from support.cli import cli_env, run_cli_async
from support.loopback import STALL, LoopbackServer, Response, sse_event

KEY = "sk-ant-test-cli-answers-000000000000-abcd"
CAP = 65536

paracle = run_cli_async


def bad_urls(port: int) -> dict[str, str]:
    return {
        "port-out-of-range": "http://127.0.0.1:99999",
        "ftp": f"ftp://127.0.0.1:{port}",
        "no-host": f"http://:{port}/v1",
        "no-scheme": f"127.0.0.1:{port}",
    }


@pytest.mark.parametrize("case", ["port-out-of-range", "ftp", "no-host", "no-scheme"])
async def test_a_bad_anthropic_base_url_is_exit_2_before_any_request(
    case: str, loopback: LoopbackServer, tmp_path
) -> None:
    url = bad_urls(loopback.port)[case]
    env = cli_env(tmp_path / "home", ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=url)
    code, out, err = await paracle(env, "run", "researcher", "--task", "hi")
    assert code == 2, err
    assert err.startswith("error: ANTHROPIC_BASE_URL: ") and "not a usable base URL" in err
    assert "Traceback" not in err and out == ""
    assert loopback.requests == [] and loopback.connections == 0


@pytest.mark.parametrize("case", ["port-out-of-range", "ftp"])
async def test_a_bad_base_url_in_config_names_the_config_key(
    case: str, loopback: LoopbackServer, tmp_path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    url = bad_urls(loopback.port)[case]
    (home / "config.toml").write_text(f'[base_urls]\nollama = "{url}"\n')
    code, _out, err = await paracle(
        cli_env(home), "run", "researcher", "--task", "hi", "--provider", "ollama"
    )
    assert code == 2, err
    assert "base_urls.ollama in config.toml" in err and "not a usable base URL" in err
    assert loopback.requests == [] and loopback.connections == 0


async def test_an_html_portal_page_fails_once_with_the_snippet(
    loopback: LoopbackServer, tmp_path
) -> None:
    loopback.default = Response(
        headers={"content-type": "text/html"},
        body=b"<html><body>Log in to the hotel Wi-Fi</body></html>",
    )
    env = cli_env(tmp_path / "home", ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=loopback.url)
    code, out, err = await paracle(env, "run", "researcher", "--task", "hi")
    assert code == 1
    assert out == ""
    assert f"anthropic at {loopback.url}/v1/messages answered 200 with text/html" in err
    assert "<html><body>Log in to the hotel Wi-Fi" in err
    assert len(loopback.requests) == 1  # a portal answers every retry the same way


async def test_an_oversize_answer_stops_at_the_configured_cap_keeping_the_text(
    loopback: LoopbackServer, tmp_path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f"[providers]\nmax_answer_chars = {CAP}\n")
    start = sse_event(
        {
            "type": "message_start",
            "message": {"type": "message", "content": [], "usage": {"input_tokens": 3}},
        },
        event="message_start",
    )
    piece = sse_event(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "x" * 1000},
        },
        event="content_block_delta",
    )
    loopback.enqueue(Response.sse([start, *[piece] * 500, STALL]))  # 500 KB, then held open
    env = cli_env(home, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=loopback.url)
    code, out, err = await paracle(env, "stream", "researcher", "--task", "hi")
    assert code == 1, err
    assert out == "x" * CAP + "\n"
    assert f"passed {CAP} characters" in err and "max_answer_chars" in err
    await loopback.wait_for_disconnect()
    assert len(loopback.requests) == 1
