"""How close the workflow scheduler comes to the critical path, and what it costs per step.

- makespan: random DAGs of a few hundred steps (layers of varied width, step durations drawn
  from a log-normal distribution) run through the real Executor and the simulated provider
  (`sim-<N>ms` models), once with Paracle's ready-queue scheduler and once level by level
  (the Synchronization Guide's loop), in the same run. Each figure is makespan divided by the
  critical path computed from the step durations measured in that same run (1.00 is perfect).
- overhead: a 10,000-step DAG of no-op steps (a stand-in that publishes what the executor
  publishes, with no provider), per step, against the level-by-level loop on the same DAG,
  and again with the history writer recording every event to SQLite.

Prints one `RESULT name=value baseline=value unit=...` line per figure. Runs in about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paracle_engine.config import Settings  # noqa: E402
from paracle_engine.events import EventBus, StepStarted, TextDelta, UsageReported  # noqa: E402
from paracle_engine.executor import Executor, StepCall  # noqa: E402
from paracle_engine.models import (  # noqa: E402
    AgentSpec,
    CompletionResult,
    Usage,
    WorkflowSpec,
)
from paracle_engine.providers.registry import ProviderRegistry  # noqa: E402
from paracle_engine.resilience.policy import ResiliencePolicy  # noqa: E402
from paracle_engine.workflow import WorkflowRunner, dependency_graph  # noqa: E402

AGENT = AgentSpec(id="sim", provider="simulated", model="sim-50ms", system_prompt="")


def result(name: str, value: float, baseline: float, unit: str, note: str) -> None:
    print(f"RESULT {name}={value:.4g} baseline={baseline:.4g} unit={unit}", flush=True)
    print(f"# {name}: {note}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- DAGs


def random_dag(rng: random.Random, steps: int, max_width: int, timed: bool) -> WorkflowSpec:
    """Layers of random width; each step depends on 1-3 steps of the layer above, and
    sometimes on one further up. With `timed`, each step gets a `sim-<N>ms` model."""
    layers: list[list[str]] = []
    out: list[dict[str, Any]] = []
    while len(out) < steps:
        width = min(steps - len(out), max_width, 1 + int(rng.expovariate(1 / (max_width / 5))))
        layer = []
        for _ in range(width):
            sid = f"s{len(out)}"
            deps: set[str] = set()
            if layers:
                deps.update(rng.sample(layers[-1], min(len(layers[-1]), rng.randint(1, 3))))
                if len(layers) > 1 and rng.random() < 0.3:
                    deps.add(rng.choice(rng.choice(layers[:-1])))
            step: dict[str, Any] = {
                "id": sid,
                "agent": "sim",
                "prompt": f"work on {sid}",
                "depends_on": sorted(deps),
            }
            if timed:
                ms = int(min(600, max(10, rng.lognormvariate(math.log(40), 0.8))))
                step["config"] = {"model": f"sim-{ms}ms"}
            out.append(step)
            layer.append(sid)
        layers.append(layer)
    return WorkflowSpec.model_validate({"name": "bench", "steps": out})


def levels(spec: WorkflowSpec) -> list[list[str]]:
    """The level-by-level plan: each step at 1 + the deepest of its dependencies."""
    graph = dependency_graph(spec)
    depth: dict[str, int] = {}
    for sid in graph.order:
        depth[sid] = 1 + max((depth[d] for d in graph.deps[sid]), default=-1)
    plan: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for sid in graph.order:
        plan[depth[sid]].append(sid)
    return plan


def critical_path(spec: WorkflowSpec, seconds: dict[str, float]) -> float:
    """The longest chain of dependencies, weighted by each step's duration."""
    graph = dependency_graph(spec)
    finish: dict[str, float] = {}
    for sid in graph.order:
        finish[sid] = seconds[sid] + max((finish[d] for d in graph.deps[sid]), default=0.0)
    return max(finish.values())


async def level_by_level(spec: WorkflowSpec, caller: Any, run_id: str) -> dict[str, float]:
    """The guide's loop: run a whole level at once, wait for all of it, then the next."""
    steps = {s.id: s for s in spec.steps}
    took: dict[str, float] = {}

    async def one(sid: str) -> None:
        step = steps[sid]
        start = time.perf_counter()
        await caller.call(
            StepCall(
                run_id=run_id,
                step_id=sid,
                agent=AGENT,
                prompt=step.prompt or "",
                config=step.config,
            )
        )
        took[sid] = time.perf_counter() - start

    for level in levels(spec):
        await asyncio.gather(*(one(sid) for sid in level))
    return took


# --------------------------------------------------------------------------- makespan


def real_executor(bus: EventBus) -> tuple[Executor, ProviderRegistry]:
    settings = Settings()
    providers = ProviderRegistry(settings, None, force_provider="simulated")
    policy = ResiliencePolicy(settings, bus)
    return Executor(providers=providers, policy=policy, bus=bus), providers


async def makespan(dags: int, steps: int, seed: int) -> None:
    rng = random.Random(seed)
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(dags):
        spec = random_dag(rng, steps, max_width=40, timed=True)
        bus = EventBus()
        executor, providers = real_executor(bus)
        try:
            start = time.perf_counter()
            res = await WorkflowRunner(
                spec,
                agents={"sim": AGENT},
                executor=executor,
                bus=bus,
                max_concurrency=len(spec.steps),
                run_id=f"rq{i}",
            ).run()
            wall = time.perf_counter() - start
            assert str(res.status) == "completed", res.error
            took = {sid: r.ended_at - r.started_at for sid, r in res.steps.items()}
            cp = critical_path(spec, took)
            ours.append(wall / cp)

            start = time.perf_counter()
            took_lv = await level_by_level(spec, executor, f"lv{i}")
            wall_lv = time.perf_counter() - start
            cp_lv = critical_path(spec, took_lv)
            theirs.append(wall_lv / cp_lv)
        finally:
            await providers.aclose()
        nominal = critical_path(spec, {s.id: int(s.config.model[4:-2]) / 1000 for s in spec.steps})
        print(
            f"# dag {i}: {len(spec.steps)} steps, {len(levels(spec))} levels, nominal critical "
            f"path {nominal:.2f}s; ready-queue {wall:.2f}s (cp {cp:.2f}s), level-by-level "
            f"{wall_lv:.2f}s (cp {cp_lv:.2f}s)",
            file=sys.stderr,
            flush=True,
        )
    result(
        "makespan_over_critical_path",
        statistics.mean(ours),
        statistics.mean(theirs),
        "ratio",
        f"mean over {dags} DAGs of ~{steps} steps; baseline: level-by-level; aim <= 1.02",
    )


# --------------------------------------------------------------------------- overhead


class NoopCaller:
    """A step that answers at once and publishes what the Executor publishes for a call."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def call(self, call: StepCall) -> CompletionResult:
        run_id, step_id = call.run_id, call.step_id
        publish = self.bus.publish
        publish(
            StepStarted(
                run_id=run_id,
                step_id=step_id,
                agent=call.agent.id,
                provider="noop",
                model="noop",
                attempt=call.attempt,
                prompt=call.prompt,
            )
        )
        publish(TextDelta(run_id=run_id, step_id=step_id, text="ok"))
        usage = Usage(1, 1)
        publish(
            UsageReported(
                run_id=run_id, step_id=step_id, usage=usage, provider="noop", model="noop"
            )
        )
        call.text.append("ok")
        return CompletionResult("ok", usage, "noop", "noop")


async def overhead_once(spec: WorkflowSpec, history_dir: Path | None) -> tuple[float, float]:
    """Seconds per step for the ready-queue run and for the level-by-level loop."""
    n = len(spec.steps)
    bus = EventBus()
    history = None
    if history_dir is not None:
        from paracle_engine.history import open_history

        history = await open_history(bus, path=history_dir / "history.db", secrets=[])
    caller = NoopCaller(bus)
    start = time.perf_counter()
    res = await WorkflowRunner(
        spec, agents={"sim": AGENT}, executor=caller, bus=bus, max_concurrency=n, run_id="noop-rq"
    ).run()
    if history is not None:
        await history.aclose()  # every event on disk: part of the cost
    ours = (time.perf_counter() - start) / n
    assert str(res.status) == "completed", res.error
    start = time.perf_counter()
    await level_by_level(spec, NoopCaller(EventBus()), "noop-lv")
    theirs = (time.perf_counter() - start) / n
    return ours, theirs


async def overhead(steps: int, seed: int, repeat: int) -> None:
    spec = random_dag(random.Random(seed), steps, max_width=200, timed=False)
    plain = [await overhead_once(spec, None) for _ in range(repeat)]
    ours = statistics.median(p[0] for p in plain) * 1000
    theirs = statistics.median(p[1] for p in plain) * 1000
    result(
        "overhead_ms_per_step",
        ours,
        theirs,
        "ms/step",
        f"{steps} no-op steps, validation included; baseline: level-by-level loop; aim < 0.1",
    )
    with tempfile.TemporaryDirectory() as tmp:
        hist = (await overhead_once(spec, Path(tmp)))[0] * 1000
    result(
        "overhead_with_history_ms_per_step",
        hist,
        ours,
        "ms/step",
        f"{steps} no-op steps, every event written to SQLite; baseline: without history; aim < 0.3",
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller DAGs, one repeat")
    args = parser.parse_args()
    if args.quick:
        await makespan(dags=1, steps=150, seed=1)
        await overhead(steps=10_000, seed=2, repeat=1)
    else:
        await makespan(dags=3, steps=300, seed=1)
        await overhead(steps=10_000, seed=2, repeat=3)


if __name__ == "__main__":
    asyncio.run(main())
