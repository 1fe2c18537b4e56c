"""ResponsePane: exact text, frozen blocks, a live tail only, fences across chunks, following."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from rich.color import Color
from textual.app import App, ComposeResult

from paracle_tui.widgets.markdown_blocks import BlockSplitter
from paracle_tui.widgets.response_pane import (
    RenderTimeout,
    ResponseBody,
    ResponsePane,
)
from paracle_tui.widgets.response_render import Line, ResponseRenderer

STYLES = Path(__file__).resolve().parents[2] / "styles" / "response.tcss"


class Host(App[None]):
    CSS_PATH = [STYLES]

    def __init__(self, **pane: str) -> None:
        super().__init__()
        self.pane_args = pane

    def compose(self) -> ComposeResult:
        yield ResponsePane("draft", **self.pane_args)


class CountingRenderer(ResponseRenderer):
    """Counts how much Markdown is parsed, to show that finished blocks are not parsed again."""

    def render_source(self, source: str) -> list[Line]:
        CountingBody.parsed_chars += len(source)
        return super().render_source(source)


class CountingBody(ResponseBody):
    parsed_chars = 0

    def __init__(self) -> None:
        super().__init__()
        self.renderer = CountingRenderer()


class CountingHost(Host):
    def compose(self) -> ComposeResult:
        pane = ResponsePane("draft")
        pane.body = CountingBody()
        yield pane


def answer(size: int, seed: int = 3) -> str:
    """A deterministic Markdown answer: headings, paragraphs, lists, code, quotes."""
    rng = random.Random(seed)
    words = "agent step token model stream render frame block fence list quote".split()
    parts: list[str] = []
    n = 0
    while sum(map(len, parts)) < size:
        n += 1
        kind = n % 6
        sentence = " ".join(rng.choices(words, k=12)) + "."
        if kind == 0:
            parts.append(f"## Part {n}")
        elif kind == 1:
            parts.append(f"{sentence} **{rng.choice(words)}** `{rng.choice(words)}` {sentence}")
        elif kind == 2:
            parts.append("\n".join(f"- {rng.choice(words)} {sentence}" for _ in range(4)))
        elif kind == 3:
            code = "\n".join(f"x{i} = {i}  # {rng.choice(words)}" for i in range(6))
            parts.append(f"```python\n{code}\n\nprint(x0)\n```")
        elif kind == 4:
            parts.append("\n".join(f"{i}. {sentence}" for i in range(1, 4)))
        else:
            parts.append(f"> {sentence}")
    return "\n\n".join(parts) + "\n\nThe end.\n"


def feed(pane: ResponsePane, text: str, size: int) -> None:
    for i in range(0, len(text), size):
        pane.append(text[i : i + size])


async def test_thirty_kilobytes_in_small_chunks_end_with_the_same_text() -> None:
    text = answer(30_000)
    app = CountingHost()
    CountingBody.parsed_chars = 0
    async with app.run_test(size=(100, 30)):
        pane = app.query_one(ResponsePane)
        counts = []
        for start in range(0, len(text), 3000):
            feed(pane, text[start : start + 3000], 7)
            await pane.rendered()
            counts.append(pane.body.frozen_blocks)
        assert pane.text == text
        assert counts == sorted(counts) and counts[-1] > counts[0] > 0
        assert counts[-1] > 60
        # Only the tail is live: it is the last paragraph, not the answer.
        assert pane.body.live_text == "The end.\n"
        # Finished blocks are parsed once: the work is linear in the text, not quadratic.
        assert CountingBody.parsed_chars < 3 * len(text)
        lines = pane.body.plain_lines()
        assert lines[-1] == "The end."
        assert not any(line.startswith("```") for line in lines)
        assert sum(line.startswith("Part ") for line in lines) == text.count("## Part")


async def test_a_code_fence_cut_across_chunks_stays_code() -> None:
    text = (
        "Intro paragraph.\n\n"
        "```markdown\n"
        "# not a heading\n"
        "\n"
        "- not a list\n"
        "\n"
        "\n"
        "still code\n"
        "```\n"
        "# A real heading\n\n"
        "After.\n"
    )
    app = Host()
    async with app.run_test(size=(80, 30)):
        pane = app.query_one(ResponsePane)
        feed(pane, text, 3)
        await pane.rendered()
        lines = [line.strip() for line in pane.body.plain_lines()]
        assert "# not a heading" in lines
        assert "- not a list" in lines
        assert "still code" in lines
        assert "A real heading" in lines and "# A real heading" not in lines
        assert not any(line.startswith("```") for line in lines)
        assert pane.text == text


async def test_a_long_code_block_is_cut_into_seamless_pieces() -> None:
    code = "\n".join(f"value_{i:03d} = {i} * 2" for i in range(120))
    text = f"```python\n{code}\n```\n"
    app = Host()
    async with app.run_test(size=(80, 30)):
        pane = app.query_one(ResponsePane)
        feed(pane, text, 11)
        await pane.rendered()
        lines = [line.strip() for line in pane.body.plain_lines()]
        assert lines == [f"value_{i:03d} = {i} * 2" for i in range(120)]  # no gaps, no fences
        assert pane.body.frozen_blocks > 3  # the block was cut, so the tail stayed small


async def test_scrolling_up_stops_following_and_the_bottom_resumes_it() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(ResponsePane)
        body = pane.body
        body.focus()
        feed(pane, answer(6_000), 9)
        await pane.rendered()
        assert pane.following
        assert body.max_scroll_y > 0 and body.scroll_y == body.max_scroll_y
        await pilot.press("pageup")
        await pilot.pause()
        assert not pane.following
        held = body.scroll_y
        feed(pane, answer(3_000, seed=9), 9)
        await pane.rendered()
        assert body.scroll_y == held  # the reader keeps their place
        await pilot.press("end")
        await pilot.pause()
        assert pane.following
        feed(pane, answer(2_000, seed=11), 9)
        await pane.rendered()
        assert body.scroll_y == body.max_scroll_y


async def test_rendered_returns_at_once_when_all_is_drawn_and_never_waits_on_hidden_panes() -> None:
    class TwoPanes(App[None]):
        CSS_PATH = [STYLES]

        def compose(self) -> ComposeResult:
            yield ResponsePane("shown")
            yield ResponsePane("hidden", classes="-off")

        def on_mount(self) -> None:
            self.query_one(".-off").display = False  # never laid out: it has no width

    app = TwoPanes()
    async with app.run_test(size=(80, 20)) as pilot:
        shown, hidden = app.query(ResponsePane)
        shown.append("# Done\n\nEverything is here.\n")
        await shown.rendered(within=5)
        assert "Everything is here." in shown.body.plain_lines()
        await pilot.pause()
        # Nothing new to draw: it returns without handing the loop over even once.
        waiting = shown.rendered()
        with pytest.raises(StopIteration):
            waiting.send(None)
        hidden.append("Text for later.\n")
        await hidden.rendered(within=5)
        hidden.display = True
        await hidden.rendered(within=5)
        assert "Text for later." in hidden.body.plain_lines()
        # A pane removed while its text waits to be drawn lets its waiter go.
        shown.append("More text.\n")
        waiter = asyncio.ensure_future(shown.rendered(within=5))
        await shown.remove()
        await waiter


async def test_a_pane_hidden_before_it_was_ever_laid_out_lets_its_waiter_go() -> None:
    # The deck shows a new pane, then hides it again before a layout gave it a width: its
    # render loop can never work off the text, so rendered() must not wait for that.
    app = Host()
    async with app.run_test(size=(80, 20)):
        late = ResponsePane("late")
        await app.mount(late)
        late.append("# Title\n\nText that never had room to be drawn.\n")
        assert late.body.size.width == 0 and late.display and late.body.display
        waiter = asyncio.ensure_future(late.rendered(within=5))
        await asyncio.sleep(0)
        assert not waiter.done()  # still waiting for a width
        late.display = False
        await waiter  # a RenderTimeout here says the hidden pane was still waited for


async def test_a_wait_that_runs_out_names_the_body_and_what_it_waited_for() -> None:
    class NoRoom(App[None]):
        CSS_PATH = [STYLES]
        CSS = "ResponsePane { width: 0; }"

        def compose(self) -> ComposeResult:
            yield ResponsePane("squeezed")

    app = NoRoom()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(ResponsePane)
        await pilot.pause()
        pane.append("Shown, but no column to draw it in.\n")
        with pytest.raises(RenderTimeout) as caught:
            await pane.rendered(within=0.3)
        message = str(caught.value)
        assert message.startswith("ResponseBody() not drawn in time: waited for the render loop")
        assert "size=0x" in message and "chunks waiting=1" in message
        # A dialog reading its answer from the top does not fail over it: it moves on.
        await pane.body.scroll_home_when_rendered(within=0.3)
        assert pane.body.scroll_y == 0 and app.is_running
        # The app goes on: the pane still takes text, and draws it once it has room.
        pane.styles.width = "1fr"
        await pane.rendered()
        assert pane.body.plain_lines() == ["Shown, but no column to draw it in."]


async def test_a_resize_renders_every_block_again_at_the_new_width() -> None:
    text = answer(8_000)
    app = Host()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(ResponsePane)
        feed(pane, text, 13)
        await pane.rendered()
        wide = pane.body.plain_lines()
        await pilot.resize_terminal(50, 30)
        await pilot.pause()
        await pane.rendered()
        narrow = pane.body.plain_lines()
        assert len(narrow) > len(wide)
        assert max(len(line) for line in narrow) <= 50

        def letters(lines: list[str]) -> str:  # a quote repeats its bar on each wrapped line
            return "".join(lines).replace(" ", "").replace("▌", "")

        assert letters(narrow) == letters(wide)


async def test_the_header_names_the_step_source_and_status() -> None:
    app = Host(agent="writer", provider="simulated", model="sim-1", status="running")
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(ResponsePane)
        await pilot.pause()
        assert pane.header.plain == "draft  ● running   simulated   writer · simulated/sim-1"
        pane.set_status("failed", note="HTTP 500")
        pane.set_source(provider="anthropic", model="claude-sonnet-4.5")
        await pilot.pause()
        assert (
            pane.header.plain == "draft  ✗ failed · HTTP 500  writer · anthropic/claude-sonnet-4.5"
        )
        line = pane.header.render_line(0)
        failed = next(seg for seg in line if "failed" in seg.text)
        expected = Color.parse(app.theme_variables["text-error"])
        assert failed.style.color.triplet == expected.triplet


async def test_a_narrow_header_drops_model_then_agent_and_keeps_the_status() -> None:
    app = Host(agent="researcher", provider="simulated", model="claude-sonnet-4.5")
    async with app.run_test(size=(110, 10)) as pilot:
        pane = app.query_one(ResponsePane)
        pane.set_status("failed", note="HTTP 500 from the provider")
        step_and_status = "draft  ✗ failed · HTTP 500 from the provider"
        badge = "   simulated "
        shown = {}
        for width in (110, 80, 62, 50, 30):
            await pilot.resize_terminal(width, 10)
            await pilot.pause()
            shown[width] = pane.header.plain
            drawn = "".join(seg.text for seg in pane.header.render_line(0)).strip()
            assert drawn.startswith(shown[width][: width - 3].rstrip())  # measured is drawn
        assert shown[110] == f"{step_and_status}{badge}  researcher · simulated/claude-sonnet-4.5"
        assert shown[80] == f"{step_and_status}{badge}  researcher"
        assert shown[62] == f"{step_and_status}{badge}"
        assert shown[50] == step_and_status
        # Narrower still, only the note is cut: the status word stays.
        drawn = "".join(seg.text for seg in pane.header.render_line(0)).strip()
        assert drawn.startswith("draft  ✗ failed · HTTP") and drawn.endswith("…"), drawn


async def test_c_copies_the_raw_answer_and_clear_forgets_it() -> None:
    text = "# Title\n\nSome *text* with `code`.\n"
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(ResponsePane)
        pane.body.focus()
        feed(pane, text, 4)
        await pane.rendered()
        await pilot.press("c")
        assert app.clipboard == text
        pane.clear()
        await pane.rendered()
        assert pane.text == "" and pane.body.plain_lines() == []
        feed(pane, "again\n", 2)
        await pane.rendered()
        assert pane.text == "again\n" and pane.body.plain_lines() == ["again"]


async def test_colours_come_from_the_theme() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(ResponsePane)
        feed(pane, "# Heading\n\nText.\n", 5)
        await pane.rendered()

        def heading_colour() -> Color | None:
            for segment in pane.body.render_line(0):
                if "Heading" in segment.text:
                    return segment.style.color
            return None

        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.pause()
            await pane.rendered()
            expected = Color.parse(app.theme_variables["text-primary"])
            assert heading_colour().triplet == expected.triplet


# ---------------------------------------------------------------------------- the splitter


def split(text: str, chunk: int = 5) -> tuple[list[str], str]:
    splitter = BlockSplitter()
    blocks = []
    for i in range(0, len(text), chunk):
        blocks.extend(splitter.feed(text[i : i + chunk]))
    return [block.source for block in blocks], splitter.live


def test_blocks_are_cut_only_where_nothing_after_can_change_them() -> None:
    blocks, live = split("Para one.\n\nPara two\ncontinues.\n\n- a\n- b\n\n  more of b\n\nEnd\n")
    assert blocks[0] == "Para one.\n\n"
    assert blocks[1] == "Para two\ncontinues.\n\n"
    # "- b" keeps its indented continuation after the blank line.
    assert blocks[-1].endswith("- b\n\n  more of b\n\n")
    assert live == "End\n"


def test_list_items_join_and_a_late_number_is_not_a_new_list() -> None:
    splitter = BlockSplitter()
    blocks = splitter.feed("1. one\n2. two\n3. three\n")
    assert [b.source for b in blocks] == ["1. one\n", "2. two\n"]
    assert [b.joined for b in blocks] == [False, True]
    assert splitter.live == "3. three\n" and splitter.live_joined
    blocks, live = split("The year\n1984. was long\n")
    assert blocks == [] and live == "The year\n1984. was long\n"


def test_headings_stand_alone_and_fences_hold_blank_lines() -> None:
    blocks, live = split("# Title\nText\n```\na\n\n\nb\n```\nafter\n", chunk=2)
    assert blocks == ["# Title\n", "Text\n", "```\na\n\n\nb\n```\n"]
    assert live == "after\n"


def test_an_endless_line_is_cut_before_a_word_so_the_tail_stays_small() -> None:
    splitter = BlockSplitter(soft_limit=100)
    text = ("word " * 30 + "12 apples ") * 5
    blocks = []
    for i in range(0, len(text), 7):
        blocks.extend(splitter.feed(text[i : i + 7]))
    assert len(blocks) >= 5 and all(block.joined for block in blocks[1:])
    assert all(len(block.source) <= 100 for block in blocks)
    assert all(block.source.endswith(" ") for block in blocks)  # never inside a word
    assert "".join(block.source for block in blocks) + splitter.live == text
