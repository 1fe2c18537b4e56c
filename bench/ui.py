"""How the TUI's streaming widgets hold up: long answers, many streams, and the first frame.

Run: `.venv/bin/python bench/ui.py [--quick] [--seconds N] [--only answer|streams|frame]`. Each scenario runs in its own
subprocess (so peak RSS is its own), headless at 120x40, and each figure is printed as
`RESULT name=value baseline=value unit=...` with its baseline measured in the same run:

(a) one long Markdown answer fed as fast as possible in 8-character chunks: time until fully
    rendered, event-loop lag (p50, p99, max of a 10 ms ticker's overshoot) and peak RSS, for
    ResponsePane at 20, 50 and 200 KB against Textual's bare MarkdownStream, whose cost grows
    with length, so it is measured at 20 and 50 KB only (the RESULT line says which size).
(b) 8 panes streaming at 2 KB/s each for N seconds (default 30, `--quick` 5): loop lag and
    key-press-to-handling delay, against 8 bare MarkdownStream widgets.
(c) time from process start to the first frame (median of 7, the kinds taking turns; bytecode
    cached as users run it):
    `paracle --provider simulated` itself on the demo workspace (the CLI's own parsing,
    `build_app` with its real engine factory, a private PARACLE_HOME), and an app with a
    DagView and 4 panes, each beside a minimal Textual app measured in the same run. The
    `paracle` line also says which heavy modules (the engine, pydantic, a provider SDK) the
    loop imported before the first frame (none should), and a second figure times the app
    until the workspace is listed (the engine opens in a thread after the first frame).

Aims: p99 lag < 50 ms with 8 streams; 200 KB rendered in < 15 s, p99 lag < 50 ms, < 150 MB RSS;
`paracle`'s first frame within 1.5x of the minimal app.
Headless runs skip only the final write to a terminal; layout and rendering are real.

Every host app, baseline included, tunes the garbage collector once mounted, as ParacleApp
does: `gc.freeze()` keeps the ~185k objects of a started Textual app out of every full
collection (otherwise 100-200 ms stalls, a few a second under load), and a first-generation
threshold of 20,000 lets the cyclic garbage Textual's strips leave behind within a frame die
young instead of piling up for full collections. `--default-gc` measures without either.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SIZE = (120, 40)
CHUNK = 8
TUNE_GC = os.environ.get("PARACLE_BENCH_TUNE_GC", "1") == "1"


def settle_gc() -> None:
    """What a started app should do once: keep its startup objects out of full collections,
    and collect the young generation less often, so a frame's garbage dies young."""
    if TUNE_GC:
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 10, 10)


WORDS = (
    "agent workflow step model token stream answer provider retry budget latency cache "
    "context prompt schema output input review draft summary plan result error queue "
    "event loop render frame widget layout memory graph depth level edge node state"
).split()


def markdown_answer(size: int, seed: int = 1) -> str:
    """A deterministic answer of `size` characters: headings, paragraphs, lists, code, quotes."""
    rng = random.Random(seed)

    def sentence() -> str:
        words = rng.choices(WORDS, k=rng.randint(6, 16))
        if rng.random() < 0.3:
            i = rng.randrange(len(words))
            words[i] = rng.choice((f"**{words[i]}**", f"`{words[i]}()`", f"*{words[i]}*"))
        return " ".join(words).capitalize() + "."

    parts: list[str] = []
    total = 0
    section = 0
    while total < size:
        kind = rng.random()
        if kind < 0.08:
            section += 1
            block = f"## Section {section}: {rng.choice(WORDS)} {rng.choice(WORDS)}"
        elif kind < 0.5:
            block = " ".join(sentence() for _ in range(rng.randint(2, 6)))
        elif kind < 0.65:
            block = "\n".join(f"- {sentence()}" for _ in range(rng.randint(3, 7)))
        elif kind < 0.72:
            block = "\n".join(f"{i}. {sentence()}" for i in range(1, rng.randint(3, 6)))
        elif kind < 0.92:
            lines = [f"def {rng.choice(WORDS)}_{i}(x: int) -> int:" for i in range(1)]
            for i in range(rng.randint(4, 18)):
                lines.append(f"    x = x * {i} + len('{rng.choice(WORDS)}')  # {rng.choice(WORDS)}")
            lines.append("    return x")
            block = "```python\n" + "\n".join(lines) + "\n```"
        else:
            block = "> " + sentence()
        parts.append(block)
        total += len(block) + 2
    return "\n\n".join(parts)[:size]


# ---------------------------------------------------------------------------- measuring


class LagMeter:
    """A ticker task: how late each 10 ms sleep wakes up is the loop's lag."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.period)
            self.samples.append(max(0.0, time.perf_counter() - start - self.period))

    def __enter__(self) -> LagMeter:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def summary(self) -> dict[str, float]:
        data = sorted(self.samples) or [0.0]

        def pct(p: float) -> float:
            return data[min(len(data) - 1, int(p * len(data)))] * 1000

        return {"lag_p50_ms": pct(0.5), "lag_p99_ms": pct(0.99), "lag_max_ms": data[-1] * 1000}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def chunks(text: str) -> list[str]:
    return [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]


async def painted(app) -> None:
    """Wait for the next screen refresh."""
    done = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: done.done() or done.set_result(None))
    await done


# ---------------------------------------------------------------------------- scenarios


async def scenario_answer(widget: str, size: int) -> dict[str, float]:
    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    from paracle_tui.widgets.response_pane import ResponsePane

    class Host(App[None]):
        CSS_PATH = [ROOT / "styles" / "response.tcss"]

        def compose(self) -> ComposeResult:
            if widget == "pane":
                yield ResponsePane("answer", provider="simulated", model="bench")
            else:
                with VerticalScroll():
                    yield Markdown()

    pieces = chunks(markdown_answer(size))
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        settle_gc()
        with LagMeter() as lag:
            start = time.perf_counter()
            if widget == "pane":
                pane = app.query_one(ResponsePane)
                for piece in pieces:
                    pane.append(piece)
                    await asyncio.sleep(0)  # a producer hands over the loop per chunk
                await pane.rendered()
            else:
                app.query_one(VerticalScroll).anchor()
                stream = Markdown.get_stream(app.query_one(Markdown))
                for piece in pieces:
                    await stream.write(piece)  # sleeps 0 per chunk itself
                await stream.stop()
                await painted(app)
            elapsed = time.perf_counter() - start
    return {"render_s": elapsed, **lag.summary(), "rss_mb": peak_rss_mb()}


async def scenario_streams(widget: str, seconds: float, count: int = 8) -> dict[str, float]:
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.containers import Grid, VerticalScroll
    from textual.widgets import Markdown

    from paracle_tui.widgets.response_pane import ResponsePane

    handled: list[float] = []

    class Host(App[None]):
        CSS_PATH = [ROOT / "styles" / "response.tcss"]
        CSS = "Grid { grid-size: 4 2; } Grid > * { height: 1fr; }"
        BINDINGS = [Binding("f9", "probe", "probe")]

        def compose(self) -> ComposeResult:
            with Grid():
                for i in range(count):
                    if widget == "pane":
                        yield ResponsePane(f"step-{i}", provider="simulated", model="bench")
                    else:
                        with VerticalScroll():
                            yield Markdown()

        def action_probe(self) -> None:
            handled.append(time.perf_counter())

    from paracle_engine.events import EventBus, RunStarted, StepStarted, TextDelta
    from paracle_engine.history import open_history

    rate = 2048  # characters a second per stream
    tick = 0.02
    app = Host()
    # History on, as in the app: every delta also goes through the bus to the SQLite writer.
    bus = EventBus()
    history = await open_history(bus, path=Path(tempfile.mkdtemp(prefix="paracle-bench-")) / "h.db")
    for i in range(count):
        bus.publish(
            RunStarted(run_id=f"run-{i}", kind="agent", target=f"step-{i}", step_ids=[f"step-{i}"])
        )
        bus.publish(
            StepStarted(
                run_id=f"run-{i}",
                step_id=f"step-{i}",
                agent=None,
                provider="simulated",
                model="bench",
            )
        )
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        settle_gc()

        async def produce(index: int) -> None:
            text = markdown_answer(int(rate * seconds) + 64, seed=index)
            per_tick = int(rate * tick)
            stream = None
            if widget == "pane":
                pane = app.query(ResponsePane)[index]
            else:
                app.query(VerticalScroll)[index].anchor()
                stream = Markdown.get_stream(app.query(Markdown)[index])
            start = time.perf_counter()
            sent = 0
            while (now := time.perf_counter()) - start < seconds:
                due = min(len(text), int((now - start) * rate))
                for piece in chunks(text[sent : max(due, sent + per_tick)]):
                    bus.publish(
                        TextDelta(run_id=f"run-{index}", step_id=f"step-{index}", text=piece)
                    )
                    if stream is None:
                        pane.append(piece)
                    else:
                        await stream.write(piece)
                sent = max(due, sent + per_tick)
                await asyncio.sleep(tick)
            if stream is not None:
                await stream.stop()

        delays: list[float] = []
        cpu_start = cpu_s()
        with LagMeter() as lag:
            producers = [asyncio.create_task(produce(i)) for i in range(count)]
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                before = len(handled)
                pressed = time.perf_counter()
                await pilot.press("f9")
                if len(handled) > before:
                    delays.append(handled[-1] - pressed)
                await asyncio.sleep(0.2)
            await asyncio.gather(*producers)
        cpu = (cpu_s() - cpu_start) / seconds
    await history.aclose()
    delays.sort()
    return {
        **lag.summary(),
        "key_p50_ms": delays[len(delays) // 2] * 1000 if delays else -1,
        "key_max_ms": delays[-1] * 1000 if delays else -1,
        "rss_mb": peak_rss_mb(),
        "cpu_share": cpu,
    }


# Imported on the loop before the first frame, any of these would hold it back: they load after
# it, in the thread that opens the workspace.
HEAVY = ("paracle_engine.engine", "pydantic", "anthropic", "httpx", "aiosqlite", "yaml")


def scenario_frame(kind: str) -> None:
    """Print FRAME once the first frame is painted, then exit (`paracle`: READY once listed)."""
    import threading

    loop_thread = threading.get_ident()
    on_loop: list[str] = []

    def audit(event: str, args: tuple) -> None:
        if event == "import" and args[0] in HEAVY and threading.get_ident() == loop_thread:
            on_loop.append(args[0])

    sys.addaudithook(audit)
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Minimal(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("Paracle")

    app: App[None] = Minimal()
    if kind == "dag":
        from paracle_tui.widgets.dag_view import DagView
        from paracle_tui.widgets.response_pane import ResponsePane

        class WithWidgets(Minimal):
            CSS_PATH = [ROOT / "styles" / "dag.tcss", ROOT / "styles" / "response.tcss"]

            def compose(self) -> ComposeResult:
                yield DagView()
                for i in range(4):
                    yield ResponsePane(f"step-{i}", provider="simulated", model="bench")

            def on_mount(self) -> None:
                steps = [f"step-{i}" for i in range(7)]
                self.query_one(DagView).set_graph(
                    steps, {s: [steps[i - 1]] for i, s in enumerate(steps) if i}
                )

        app = WithWidgets()
    elif kind == "paracle":
        # As `paracle --provider simulated` starts: the CLI's own parsing, then its build_app.
        from paracle_tui.app import build_app
        from paracle_tui.cli import parse_args

        app = build_app(parse_args(["--provider", "simulated"]))

    async def first_frame(pilot) -> None:
        await painted(app)
        print(f"FRAME heavy={','.join(dict.fromkeys(on_loop)) or 'none'}", flush=True)
        if kind == "paracle":
            await app.booted.wait()  # type: ignore[attr-defined]
            await painted(app)
            print("READY", flush=True)
        app.exit()

    app.run(headless=True, size=SIZE, auto_pilot=first_frame)


# ---------------------------------------------------------------------------- the driver


def child(args: list[str], timeout: float) -> dict[str, float] | None:
    cmd = [sys.executable, __file__, "--child", *args]
    env = dict(os.environ, PARACLE_BENCH_TUNE_GC="1" if TUNE_GC else "0")
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=True, env=env
        )
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_frames_s(kinds: tuple[str, ...], runs: int = 7) -> dict[str, dict[str, object]]:
    """Per kind: median seconds from spawning the child to its FRAME (and READY) line, and what
    it imported before the frame. The kinds take turns, so a busy moment weighs on each alike."""
    env = dict(os.environ, PARACLE_HOME=tempfile.mkdtemp(prefix="paracle-bench-"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as users run it: bytecode cached after one start
    marks: dict[str, dict[str, list[float]]] = {k: {"FRAME": [], "READY": []} for k in kinds}
    heavy: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as cwd:  # no .parac/ here: `paracle` opens the demo
        for i in range(runs + 1):  # the first round writes the bytecode and is not counted
            for kind in kinds:
                cmd = [sys.executable, __file__, "--child", "frame", kind]
                start = time.perf_counter()
                proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True)
                assert proc.stdout is not None
                for line in proc.stdout:
                    word, _, rest = line.strip().partition(" ")
                    if word in marks[kind] and i:
                        marks[kind][word].append(time.perf_counter() - start)
                    if word == "FRAME":
                        heavy[kind] = rest.removeprefix("heavy=")
                proc.wait(timeout=60)
    return {
        kind: {
            **{k: statistics.median(v) for k, v in marks[kind].items() if v},
            "heavy": heavy.get(kind, "?"),
        }
        for kind in kinds
    }


def result(name: str, value: float, baseline: str, unit: str, **extra: object) -> None:
    extra["gc"] = "tuned" if TUNE_GC else "default"
    tail = "".join(f" {k}={v}" for k, v in extra.items())
    print(f"RESULT {name}={value:.3f} baseline={baseline} unit={unit}{tail}", flush=True)


def fmt(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s of streaming instead of 30")
    parser.add_argument("--seconds", type=float, default=None, help="streaming time for (b)")
    parser.add_argument("--default-gc", action="store_true", help="leave the GC as Python sets it")
    parser.add_argument(
        "--only", choices=("answer", "streams", "frame"), help="run one scenario: (a), (b) or (c)"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global TUNE_GC
    TUNE_GC = TUNE_GC and not args.default_gc
    if args.child:
        name, *rest = args.child
        if name == "frame":
            scenario_frame(rest[0])
            return
        if name == "answer":
            out = asyncio.run(scenario_answer(rest[0], int(rest[1])))
        else:
            out = asyncio.run(scenario_streams(rest[0], float(rest[1])))
        print(json.dumps(out))
        return

    if args.only in (None, "answer"):
        answers()
    if args.only in (None, "streams"):
        streams(args.seconds or (5.0 if args.quick else 30.0))
    if args.only in (None, "frame"):
        first_frames()


def answers() -> None:
    """(a) one long answer."""
    stream = {kb: child(["answer", "stream", str(kb * 1024)], timeout=300) for kb in (20, 50)}
    for kb in (20, 50, 200):
        pane = child(["answer", "pane", str(kb * 1024)], timeout=300)
        assert pane is not None, f"ResponsePane timed out at {kb} KB"
        base_kb = kb if kb in stream else 50
        base = stream[base_kb]
        note = f"baseline_is=MarkdownStream@{base_kb}KB"
        for key, unit in (
            ("render_s", "s"),
            ("lag_p50_ms", "ms"),
            ("lag_p99_ms", "ms"),
            ("lag_max_ms", "ms"),
            ("rss_mb", "MB"),
        ):
            result(f"answer_{kb}kb_{key}", pane[key], fmt(base and base[key]), unit, note=note)


def streams(seconds: float) -> None:
    """(b) eight streams."""
    panes = child(["streams", "pane", str(seconds)], timeout=seconds * 10 + 60)
    bare = child(["streams", "stream", str(seconds)], timeout=seconds * 10 + 60)
    assert panes is not None, "the 8-pane run timed out"
    for key, unit in (
        ("lag_p50_ms", "ms"),
        ("lag_p99_ms", "ms"),
        ("lag_max_ms", "ms"),
        ("key_p50_ms", "ms"),
        ("key_max_ms", "ms"),
        ("rss_mb", "MB"),
    ):
        result(
            f"streams8_{key}",
            panes[key],
            fmt(bare and bare[key]),
            unit,
            note=f"8x2KB/s_for_{seconds:g}s_history_on_baseline_is=8xMarkdownStream",
        )


def first_frames() -> None:
    """(c) the first frame."""
    frames = first_frames_s(("minimal", "paracle", "dag"))
    minimal = float(frames["minimal"]["FRAME"])  # type: ignore[arg-type]
    widgets = float(frames["dag"]["FRAME"])  # type: ignore[arg-type]
    paracle = frames["paracle"]
    base = f"{minimal:.3f}"
    frame = float(paracle["FRAME"])  # type: ignore[arg-type]
    result(
        "first_frame_paracle_s",
        frame,
        base,
        "s",
        ratio=f"{frame / minimal:.2f}",
        aim_ratio="1.5",
        imported_before_frame=paracle["heavy"],
        note="baseline_is=minimal_app",
    )
    result(
        "workspace_listed_paracle_s",
        float(paracle["READY"]),  # type: ignore[arg-type]
        base,
        "s",
        note="demo_workspace_engine_opened_after_first_frame_baseline_is=minimal_app",
    )
    result(
        "first_frame_dag_and_4_panes_s",
        widgets,
        base,
        "s",
        note="baseline_is=minimal_app",
    )


if __name__ == "__main__":
    main()
