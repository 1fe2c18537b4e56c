"""A recorded run as Markdown (to read or share) or JSON (to process).

Both are read in terminals (``paracle history export`` writes to stdout, ``cat`` shows the file),
so neither lets a recorded control character act: the Markdown shows them inert, through the
one sanitiser; the JSON escapes them (``\\u001b``), so the data stays exactly as recorded.
"""

from __future__ import annotations

import json
import time

from paracle_engine.history.records import RunDetail, ToolCallRecord
from paracle_engine.terminal import has_controls, terminal_safe
from paracle_engine.vocabulary import format_duration

_ROLE_TITLES = {"system": "System prompt", "user": "Prompt", "assistant": "Answer"}


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _fence(text: str) -> str:
    """A fenced block whose fence is longer than any backtick run inside the text."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _section(heading: str, text: str) -> list[str]:
    """A heading (with its #s) and `text` fenced under it, set off by blank lines."""
    return ["", heading, "", _fence(text)]


def _json_section(heading: str, value: object) -> list[str]:
    return _section(heading, json.dumps(value, indent=2, ensure_ascii=False))


def _tool_call(call: ToolCallRecord, attempts: bool) -> list[str]:
    """One call: a line of facts, its arguments as JSON, then its result, each fenced."""
    facts = [f"round {call.round}"] + ([f"attempt {call.attempt}"] if attempts else [])
    decided = call.decision or "no decision recorded"
    if call.rule:
        decided += f" ({call.rule})"
    facts += [decided, call.status]
    if call.duration is not None:
        facts.append(format_duration(call.duration))
    head = f"#### {call.name}" + (f": {call.summary}" if call.summary else "")
    lines = ["", head, "", "- " + ", ".join(facts)]
    if call.arguments:
        lines += _json_section("Arguments:", call.arguments)
    if call.result:
        title = "Result (cut when recorded):" if call.truncated else "Result:"
        lines += _section(title, call.result)
    return lines


def to_json(detail: RunDetail) -> str:
    """Everything recorded for the run, as indented JSON; ASCII-escaped when the text holds
    characters a terminal acts on that JSON leaves as they are (C1 controls, bidi overrides)."""
    data = detail.to_dict()
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if has_controls(text):
        text = json.dumps(data, indent=2, ensure_ascii=True, default=str)
    return text + "\n"


def to_markdown(detail: RunDetail) -> str:
    """The run as a Markdown document: summary, then each step with its messages and usage;
    control characters in what was recorded are shown inert (the data itself is not changed)."""
    run = detail.run
    lines = [f"# {run.kind} run {run.id}: {run.target}", ""]
    facts = [
        ("Status", run.status),
        ("Started", _when(run.started_at)),
        ("Ended", _when(run.ended_at)),
        ("Provider", " / ".join(x for x in (run.provider, run.model) if x) or "-"),
        ("Tokens", f"{run.usage.input_tokens} in, {run.usage.output_tokens} out"),
    ]
    if run.resume_count:
        facts.append(("Resumed", f"{run.resume_count} time(s)"))
    if detail.source:
        facts.append(("Source", detail.source))
    if run.error:
        facts.append(("Error", run.error))
    lines += [f"- **{k}:** {v}" for k, v in facts]
    if detail.inputs:
        lines += _json_section("## Inputs", detail.inputs)
    prompts = any(m.role == "user" for step in detail.steps for m in step.messages)
    if run.task and not prompts:
        lines += _section("## Task", run.task)
    for step in detail.steps:
        lines += ["", f"## Step {step.step_id} ({step.status})", ""]
        who = " / ".join(x for x in (step.agent, step.provider, step.model) if x)
        if who:
            lines.append(f"- **Agent:** {who}")
        lines.append(f"- **Attempts:** {step.attempts}")
        lines.append(f"- **Tokens:** {step.usage.input_tokens} in, {step.usage.output_tokens} out")
        if step.depends_on:
            lines.append(f"- **Depends on:** {', '.join(step.depends_on)}")
        if step.error:
            lines.append(f"- **Error:** {step.error}")
        if step.reason:
            lines.append(f"- **Skipped because:** {step.reason}")
        for message in step.messages:
            title = _ROLE_TITLES.get(message.role, message.role)
            if step.attempts > 1 or message.attempt > 1:
                title += f" (attempt {message.attempt})"
            lines += _section(f"### {title}", message.content)
        if step.tool_calls:
            lines += ["", "### Tool calls"]
            for call in step.tool_calls:
                lines += _tool_call(call, step.attempts > 1 or call.attempt > 1)
        if step.outputs:
            lines += _json_section("### Outputs", step.outputs)
    if detail.outputs:
        lines += _json_section("## Outputs", detail.outputs)
    elif detail.output and run.kind == "workflow":
        lines += _section("## Output", detail.output)
    return terminal_safe("\n".join(lines) + "\n")
