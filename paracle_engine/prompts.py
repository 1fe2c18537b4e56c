"""What a workflow step asks its agent, and the named outputs read back from the answer."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from paracle_engine.errors import ParacleError
from paracle_engine.models import StepSpec
from paracle_engine.templates import to_text


class MissingOutputError(ParacleError):
    """A step's answer lacks a declared named output. Its retry policy may run it again."""


def build_prompt(step: StepSpec, rendered_prompt: str | None, inputs: Mapping[str, Any]) -> str:
    """The prompt for a step: its rendered `prompt`, else one made from its name and inputs.

    When the step declares outputs, the agent is asked to end with one JSON object of them.
    """
    if rendered_prompt is not None and rendered_prompt.strip():
        text = rendered_prompt.strip()
    else:
        title = step.name or step.id
        lines = [f"Task: {title.replace('_', ' ')}"]
        if step.description:
            lines += ["", step.description.strip()]
        if inputs:
            lines += ["", "Inputs:"]
            for key, value in inputs.items():
                shown = to_text(value)
                if "\n" in shown:
                    shown = "\n" + "\n".join(f"    {line}" for line in shown.splitlines())
                lines.append(f"- {key}: {shown}")
        text = "\n".join(lines)
    if step.outputs:
        keys = ", ".join(step.outputs)
        text += (
            f"\n\nEnd your answer with one JSON object holding these keys: {keys}. "
            "Put it last, in a ```json fenced block."
        )
    return text


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last JSON object in an answer: a fenced ```json block, else a bare object."""
    for block in reversed(_FENCE.findall(text)):
        try:
            value = json.loads(block)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    pos = text.find("{")
    while pos != -1:
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(value, dict):
            found = value
        # Skip past the whole object so a nested object is never taken for the last one.
        pos = text.find("{", end)
    return found


def parse_outputs(step_id: str, text: str, keys: Sequence[str]) -> dict[str, Any]:
    """Read the declared named outputs from an answer; a missing key is the step's error."""
    if not keys:
        return {}
    obj = last_json_object(text)
    if obj is None:
        raise MissingOutputError(
            f"step {step_id}: the answer holds no JSON object with its outputs ({', '.join(keys)})",
            hint="the agent must end its answer with a JSON object of the declared outputs",
        )
    missing = [k for k in keys if k not in obj]
    if missing:
        raise MissingOutputError(
            f"step {step_id}: the answer lacks declared output(s) {', '.join(missing)}",
            hint="the agent must end its answer with a JSON object of the declared outputs",
        )
    return obj


def describe_outputs(results: Sequence[tuple[str, str, Mapping[str, Any]]]) -> str:
    """`{{ steps }}`: the outputs of finished steps as readable text, one section each."""
    sections: list[str] = []
    for step_id, text, outputs in results:
        if outputs:
            body = "\n".join(f"- {k}: {to_text(v)}" for k, v in outputs.items())
        else:
            body = text.strip()
        sections.append(f"## {step_id}\n{body}")
    return "\n\n".join(sections)
