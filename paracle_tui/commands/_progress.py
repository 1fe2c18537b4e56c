"""The progress of a `paracle workflow run` or `resume` on stderr: `RunView`.

Each step's state and elapsed time, redrawn in place on a terminal (`tick` keeps the clocks
moving), one plain line per change otherwise, nothing with --quiet; and the run as JSON
for --json when it is cancelled before a result exists.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def iso(ts: float | None) -> str | None:
    """An epoch time as ISO 8601 with microseconds (UTC), or None."""
    from datetime import UTC, datetime

    return (
        None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")
    )


class RunView:
    """Prints one workflow run's progress: a thin printer over the engine's fold (`RunState`).

    The words are the step statuses, with "running" read finer where the CLI can tell more:
    "streaming" once the model has begun to answer, "retrying" between two attempts.
    """

    def __init__(self, live: bool, quiet: bool) -> None:
        from paracle_engine import wants_ascii

        self.run: Any = None  # the RunState of the first workflow run seen
        self.live = live and not quiet
        self.plain = not live and not quiet
        self.ascii = wants_ascii(sys.stderr)
        self.drawn = 0
        self.paused = False
        self.started = time.time()

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else self.run.run_id

    def on_event(self, event: Any) -> None:
        import paracle_engine as pe

        if self.run is None:
            if isinstance(event, pe.RunStarted) and event.kind == "workflow":
                self.run = pe.RunState(event.run_id)
                self.run.apply(event)
            return
        if event.run_id != self.run.run_id:
            return
        step = self.run.apply(event)
        if step is None or not self.plain:
            return
        if isinstance(event, pe.TextDelta):
            if not (step.streaming and step.length == len(event.text)):
                return  # only the first text of an attempt changes the line
        elif not isinstance(event, _printed()):
            return
        print(self.line(step.step_id), file=sys.stderr, flush=True)

    @staticmethod
    def words(step: Any) -> str:
        from paracle_engine import status_words

        if step.status == "running":
            if step.retrying:
                return "retrying"
            if step.streaming:
                return "streaming"
        return status_words(step.status)

    def line(self, sid: str) -> str:
        from paracle_engine import format_duration, step_glyph, terminal_safe_line

        step = self.run.steps[sid]
        mark = step_glyph(step.status, ascii=self.ascii)
        elapsed = f"{format_duration(step.elapsed(time.time())):>6}"
        note = f"  {step.note}" if step.note else ""
        # One line whatever the step id and the error hold: the redraw counts lines.
        return terminal_safe_line(f"{mark} {sid}  {self.words(step)} {elapsed}{note}").rstrip()

    def redraw(self) -> None:
        """Redraw the progress block in place (terminal only)."""
        if not self.live or self.paused:
            return
        import shutil

        from paracle_engine import format_duration

        from ..terminal_io import unsanitised

        if self.run is None:
            return
        size = shutil.get_terminal_size()
        steps = self.run.steps
        ids = self.run.step_ids
        if len(ids) > size.lines - 2:  # too many to show: the active ones and a count
            ids = [i for i in ids if steps[i].status in ("running", "awaiting_approval")]
        done = sum(1 for s in steps.values() if s.status in ("completed", "skipped"))
        took = format_duration(time.time() - self.started)
        lines = [f"{done}/{len(steps)} steps  {took}"]
        lines += [self.line(i)[: size.columns - 1] for i in ids[: size.lines - 2]]
        out = "\x1b[J" if not self.drawn else f"\x1b[{self.drawn}F\x1b[J"
        # Our own escapes must act: write under the sanitiser (each line is clean already).
        stderr = unsanitised(sys.stderr)
        stderr.write(out + "\n".join(lines) + "\n")
        stderr.flush()
        self.drawn = len(lines)

    def clear(self) -> None:
        if self.live and self.drawn:
            from ..terminal_io import unsanitised

            stderr = unsanitised(sys.stderr)
            stderr.write(f"\x1b[{self.drawn}F\x1b[J")
            stderr.flush()
            self.drawn = 0

    def as_json(self, status: str, outputs: dict[str, Any]) -> dict[str, Any]:
        steps = {} if self.run is None else self.run.steps
        return {
            "run_id": self.run_id,
            "status": status,
            "outputs": outputs,
            "steps": {
                sid: {
                    "status": self.words(s),
                    "started_at": iso(s.started_at),
                    "ended_at": iso(s.ended_at),
                    "attempts": s.attempt if s.started_at is not None else 0,
                    "output": s.text,
                }
                for sid, s in steps.items()
            },
        }


def _printed() -> tuple[type, ...]:
    import paracle_engine as pe

    return (
        pe.StepStarted,
        pe.StepRetrying,
        pe.StepAwaitingApproval,
        pe.StepCompleted,
        pe.StepFailed,
        pe.StepSkipped,
        pe.StepCancelled,
    )


async def tick(view: RunView) -> None:
    """Redraw every 0.1 s until cancelled: elapsed times move even when no event arrives."""
    import asyncio

    # Elapsed times move even when no event arrives.
    while True:
        view.redraw()
        await asyncio.sleep(0.1)
