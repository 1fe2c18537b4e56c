"""ResponseRenderer, the pane's pure half: no app, only a Rich console."""

from __future__ import annotations

import time

from rich.console import Console

from paracle_tui.widgets.response_render import ResponseRenderer

ANSWER = (
    "# Plan\n\nFirst a paragraph that is long enough to wrap at forty columns, surely.\n\n"
    "- one\n- two\n- three\n\n```python\ndef f(x):\n    return x * 2\n```\n\n"
    "> a quote\n\n## Next\n\nThe live tail, still growing"
)


def renderer() -> ResponseRenderer:
    return ResponseRenderer(Console(width=40, color_system=None, force_terminal=False))


def settle(r: ResponseRenderer, width: int = 40, *, restyled: bool = False) -> None:
    """Work until nothing is left; a slice budget that cannot run out, so one call does."""
    r.work(width, time.perf_counter() + 60, restyled=restyled)
    assert not r.busy
    r.render_tail()


def test_pieces_render_as_the_whole() -> None:
    whole = renderer()
    whole.append(ANSWER)
    settle(whole)
    pieced = renderer()
    for start in range(0, len(ANSWER), 7):
        pieced.append(ANSWER[start : start + 7])
        settle(pieced)
    assert pieced.plain_lines() == whole.plain_lines()
    assert pieced.frozen_blocks == whole.frozen_blocks
    assert pieced.text == whole.text == ANSWER
    assert pieced.live_text == whole.live_text


def test_blocks_freeze_and_only_the_tail_stays_live() -> None:
    r = renderer()
    r.append(ANSWER)
    settle(r)
    plain = r.plain_lines()
    assert plain[0].strip() == "Plan"
    assert "def f(x):" in "\n".join(plain)
    assert r.frozen_blocks >= 5
    assert "still growing" in r.live_text
    assert "Plan" not in r.live_text
    assert r.plain_lines()[-1].strip() == "The live tail, still growing"
    assert r.height == len(plain)


def test_frozen_blocks_are_not_rendered_again() -> None:
    parsed: list[str] = []

    class Counting(ResponseRenderer):
        def render_source(self, source: str):  # type: ignore[no-untyped-def]
            parsed.append(source)
            return super().render_source(source)

    r = Counting(Console(width=40, color_system=None))
    r.append(ANSWER)
    settle(r)
    parsed.clear()
    r.append(" and more")
    settle(r)
    assert parsed == [r.live_text]  # the tail alone


def test_a_new_width_lays_everything_out_again() -> None:
    r = renderer()
    r.append(ANSWER)
    settle(r)
    wide = r.plain_lines()
    generation = r.lines_generation
    settle(r, 20)
    narrow = r.plain_lines()
    assert r.lines_generation > generation
    assert r.changed_from == 0
    assert len(narrow) > len(wide)
    assert max(len(line) for line in narrow) <= 20
    settle(r, 40, restyled=True)
    assert r.plain_lines() == wide


def test_a_spent_budget_still_renders_one_block_a_call() -> None:
    """On a loaded machine a slice can be spent before it starts; each call must still move
    on by one block, or a body would never be drawn."""
    r = renderer()
    r.append(ANSWER)
    spent = time.perf_counter() - 1
    assert r.work(40, spent)  # work remains
    assert r.busy and r.lines and "blocks waiting=" in r.state()
    calls = 1
    while r.work(40, time.perf_counter() - 1):
        calls += 1
        assert calls < 1000, "no progress with a spent budget"
    assert not r.busy


def test_clear_forgets_everything() -> None:
    r = renderer()
    r.append(ANSWER)
    settle(r)
    r.clear()
    assert (r.text, r.plain_lines(), r.frozen_blocks, r.live_text) == ("", [], 0, "")
    assert not r.has_content and not r.busy
    r.append("again")
    settle(r)
    assert r.plain_lines() == ["again"]
