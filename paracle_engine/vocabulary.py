"""The words and marks every front uses for runs and steps: statuses, glyphs, tokens, durations.

One table each, so a screen and the CLI beside it agree. A glyph means one thing: step glyphs
and run glyphs share a mark only where the meaning is the same ("✓" is completed for both), and
a running step (●) is drawn unlike a running run (◐). `ascii=True` gives marks a terminal
without UTF-8 can print.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from paracle_engine.models import RunStatus, StepStatus

STEP_STATUSES: tuple[str, ...] = tuple(s.value for s in StepStatus)
RUN_STATUSES: tuple[str, ...] = tuple(s.value for s in RunStatus)
# Statuses after which a step's clock stops and nothing more happens to it.
FINAL_STEP_STATUSES = frozenset({"completed", "failed", "skipped", "cancelled", "interrupted"})
FINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled", "interrupted"})

# Glyphs by StepStatus value; "running" animates with SPINNER_FRAMES where a screen can.
STEP_GLYPHS: Mapping[str, str] = {
    "pending": "○",
    "running": "●",
    "awaiting_approval": "?",
    "completed": "✓",
    "failed": "✗",
    "skipped": "↷",
    "cancelled": "⊘",
    "interrupted": "↯",
}
# Glyphs by RunStatus value.
RUN_GLYPHS: Mapping[str, str] = {
    "running": "◐",
    "completed": "✓",
    "failed": "✗",
    "cancelled": "⊘",
    "interrupted": "↯",
}
STEP_GLYPHS_ASCII: Mapping[str, str] = {
    "pending": ".",
    "running": ">",
    "awaiting_approval": "?",
    "completed": "+",
    "failed": "x",
    "skipped": "~",
    "cancelled": "/",
    "interrupted": "!",
}
RUN_GLYPHS_ASCII: Mapping[str, str] = {
    "running": "*",
    "completed": "+",
    "failed": "x",
    "cancelled": "/",
    "interrupted": "!",
}
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPINNER_FRAMES_ASCII = "|/-\\"


def step_glyphs(ascii: bool = False) -> Mapping[str, str]:
    """The step glyph table, in Unicode or (`ascii=True`) in plain ASCII."""
    return STEP_GLYPHS_ASCII if ascii else STEP_GLYPHS


def run_glyphs(ascii: bool = False) -> Mapping[str, str]:
    """The run glyph table, in Unicode or (`ascii=True`) in plain ASCII."""
    return RUN_GLYPHS_ASCII if ascii else RUN_GLYPHS


def step_glyph(status: str, ascii: bool = False) -> str:
    """The mark of a step status; an unknown status reads as pending."""
    table = step_glyphs(ascii)
    return table.get(str(status), table["pending"])


def run_glyph(status: str, ascii: bool = False) -> str:
    """The mark of a run status; an unknown status (a run of a newer version) reads as cancelled."""
    table = run_glyphs(ascii)
    return table.get(str(status), table["cancelled"])


def status_words(status: str) -> str:
    """A status as a person reads it: `awaiting_approval` -> `awaiting approval`."""
    return str(status).replace("_", " ")


def check_step_status(status: str) -> str:
    """`status` as a plain string, if it is a StepStatus value; ValueError otherwise."""
    value = str(status)
    if value not in STEP_GLYPHS:
        raise ValueError(f"unknown step status {value!r}: use one of {', '.join(STEP_GLYPHS)}")
    return value


def wants_ascii(stream: TextIO | None) -> bool:
    """Whether `stream` cannot print the Unicode glyphs (its encoding is not UTF-8)."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return bool(encoding) and encoding not in ("utf8", "utf8sig")


def format_tokens(tokens: int | None, suffix: str = "") -> str:
    """A short token count: `950`, `1.2k`, `34.6k`, `346k`, `2.50M`; empty when unknown.

    `suffix` (such as " tok") follows the figure.
    """
    if tokens is None:
        return ""
    if tokens < 1000:
        text = str(tokens)
    elif tokens < 100_000:
        text = f"{tokens / 1000:.1f}k"
    elif tokens < 1_000_000:
        text = f"{tokens // 1000}k"
    else:
        text = f"{tokens / 1_000_000:.2f}M"
    return text + suffix


def format_duration(seconds: float | None) -> str:
    """A short duration: `4.2s`, `3m05s`, `1h02m`; empty when unknown."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
