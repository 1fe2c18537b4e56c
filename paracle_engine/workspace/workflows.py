"""Parsing one workflow file into a WorkflowSpec, normalising the forms real Paracle files use.

Only parsing and normalising happen here: agent ids, dependencies, cycles and template
references are checked by `validate_workflow` against a workspace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from paracle_engine.errors import WorkspaceError
from paracle_engine.models import (
    InputSpec,
    OutputSpec,
    SourceLocation,
    StepConfig,
    StepSpec,
    WorkflowSettings,
    WorkflowSpec,
)
from paracle_engine.workspace.yaml_source import (
    DEFAULT_MAX_FILE_BYTES,
    child,
    display_path,
    items,
    key_lines,
    line_of,
    load_yaml,
    read_text,
)

_WORKFLOW_KEYS = {
    "name", "description", "version", "id", "inputs", "steps", "outputs",
    "settings", "config", "on_failure", "metadata",
}  # fmt: skip
_STEP_KEYS = {
    "id", "name", "description", "agent", "prompt", "depends_on", "condition", "config",
    "inputs", "outputs", "requires_approval", "retry", "timeout", "validation",
}  # fmt: skip
_CONFIG_KEYS = set(StepConfig.model_fields)
_SETTINGS_KEYS = set(WorkflowSettings.model_fields)
_ON_FAILURE = {"fail_fast", "continue"}
_REFERENCE = re.compile(r"^(?:steps|inputs)\.[\w.-]+$")

OnFailure = Literal["fail_fast", "continue"]


def parse_workflow(
    path: Path, text: str | None = None, *, limit: int = DEFAULT_MAX_FILE_BYTES
) -> WorkflowSpec:
    """Parse a workflow file (or `text` as if read from `path`) into a WorkflowSpec.

    Raises WorkspaceError naming file and line on bad YAML or a shape that cannot be a workflow,
    or a file that cannot be read safely (see `read_text`; `limit` is its size cap). Fields this
    engine does not act on, and keys written twice, are listed in `WorkflowSpec.warnings`.
    """
    label = display_path(path)
    if text is None:
        text = read_text(path, label, limit=limit)
    warnings: list[str] = []
    data, root = load_yaml(text, label, warnings)
    if data is None:
        raise WorkspaceError(
            "the file is empty", file=label, hint="a workflow needs `name` and `steps`"
        )
    if not isinstance(data, dict):
        raise WorkspaceError(
            "a workflow must be a mapping with `name` and `steps`", file=label, line=line_of(root)
        )
    return _Parser(label, data, root, path.stem, warnings).workflow()


class _Parser:
    def __init__(
        self, label: str, data: dict[str, Any], root: Any, stem: str, warnings: list[str]
    ) -> None:
        self.label = label
        self.data = data
        self.root = root
        self.stem = stem
        self.lines = key_lines(root)
        self.warnings = warnings

    def error(self, message: str, line: int | None, hint: str | None = None) -> WorkspaceError:
        return WorkspaceError(message, file=self.label, line=line, hint=hint)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"`{key}` must be a mapping", self.lines.get(key))
        return value

    def build(
        self,
        model: type[BaseModel],
        values: dict[str, Any],
        where: str,
        lines: dict[str, int],
        line: int | None,
    ) -> Any:
        """Build a model; a bad field is an error at that field's line."""
        try:
            return model(**values)
        except PydanticValidationError as exc:
            err = exc.errors()[0]
            loc = [str(p) for p in err["loc"]]
            field = ".".join(loc)
            at = lines.get(field) or (lines.get(loc[0]) if loc else None) or line
            raise self.error(f"{where}: `{field}` {err['msg'].lower()}", at) from None

    # ------------------------------------------------------------------ workflow

    def workflow(self) -> WorkflowSpec:
        data = self.data
        field_lines = dict(self.lines)
        inputs = self.inputs(field_lines)
        steps = self.steps()
        outputs = self.outputs(field_lines)
        settings = self.settings()
        on_failure, extras = self.on_failure()
        metadata = data.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            metadata = {"value": metadata}
        # Unknown keys (and `id`) are kept as extra fields; a clash with one of ours gets a prefix.
        for key in data:
            if key not in _WORKFLOW_KEYS or key == "id":
                name = str(key)
                extras[f"raw_{name}" if name in WorkflowSpec.model_fields else name] = data[key]
        self.kept("workflow", [k for k in data if k not in _WORKFLOW_KEYS])
        title = data.get("name")
        return WorkflowSpec(
            name=str(title) if title not in (None, "") else self.stem,
            description=_text(data.get("description")),
            version=None if data.get("version") is None else str(data["version"]),
            inputs=inputs,
            steps=steps,
            outputs=outputs,
            settings=settings,
            on_failure=cast(OnFailure, on_failure),
            metadata=metadata or {},
            source=SourceLocation(file=self.label, line=1),
            warnings=self.warnings,
            field_lines=field_lines,
            **extras,
        )

    def kept(self, where: str, keys: list[str]) -> None:
        if keys:
            names = ", ".join(f"`{k}`" for k in keys)
            verb = "are" if len(keys) > 1 or keys[0].endswith("s") else "is"
            self.warnings.append(f"{where}: {names} {verb} kept but not acted on yet")

    def entries(
        self, section: str, field_lines: dict[str, int]
    ) -> Iterator[tuple[str, Any, int | None]]:
        """The `section` mapping's entries as (name, spec, line), each line noted in
        `field_lines` as "section.name"."""
        raw = self.mapping(section)
        lines = key_lines(child(self.root, section))
        for name, spec in raw.items():
            line = lines.get(str(name))
            if line:
                field_lines[f"{section}.{name}"] = line
            yield str(name), spec, line

    def inputs(self, field_lines: dict[str, int]) -> dict[str, InputSpec]:
        node = child(self.root, "inputs")
        out: dict[str, InputSpec] = {}
        for name, spec, line in self.entries("inputs", field_lines):
            if isinstance(spec, dict):
                values = {str(k): v for k, v in spec.items()}
                values["has_default"] = "default" in spec
            elif spec is None:
                values = {}
            else:  # `name: value` shorthand: a default
                values = {"default": spec, "has_default": True, "type": _type_name(spec)}
            if values.get("description") is not None:
                values["description"] = _text(values["description"])
            out[name] = self.build(
                InputSpec, values, f"input '{name}'", key_lines(child(node, name)), line
            )
        return out

    def outputs(self, field_lines: dict[str, int]) -> dict[str, OutputSpec]:
        out: dict[str, OutputSpec] = {}
        for name, spec, line in self.entries("outputs", field_lines):
            if isinstance(spec, dict):
                values = {str(k): v for k, v in spec.items()}
            elif isinstance(spec, str):
                stripped = spec.strip()
                is_ref = "{{" not in stripped and _REFERENCE.match(stripped)
                values = {"source": stripped} if is_ref else {"value": spec}
            else:
                raise self.error(
                    f"output '{name}' must be `{{source: steps.ID.outputs.KEY}}`, `{{value: ...}}` or a template string",
                    line,
                )
            out[name] = self.build(OutputSpec, values, f"output '{name}'", {}, line)
        return out

    def settings(self) -> WorkflowSettings:
        values = dict(self.mapping("settings"))
        config = self.mapping("config")
        if "timeout" not in values and "timeout" in config:
            values["timeout"] = config["timeout"]
        retry = config.get("retry")
        if isinstance(retry, dict) and "max_attempts" in retry and "max_retries" not in values:
            try:
                values["max_retries"] = max(0, int(retry["max_attempts"]) - 1)
            except (TypeError, ValueError):
                raise self.error(
                    "`config.retry.max_attempts` must be a whole number", self.lines.get("config")
                ) from None
        if "retry_on_failure" not in values and isinstance(values.get("max_retries"), int):
            values["retry_on_failure"] = values["max_retries"] > 0
        if isinstance(values.get("parallel_execution"), bool):
            values["parallel_execution"] = {"enabled": values["parallel_execution"]}
        self.kept("settings", [str(k) for k in values if k not in _SETTINGS_KEYS])
        kept_config = [str(k) for k in config if k not in ("timeout", "retry")]
        if isinstance(retry, dict):
            kept_config += [f"retry.{k}" for k in retry if k != "max_attempts"]
        self.kept("config", kept_config)
        lines = key_lines(child(self.root, "settings"))
        return self.build(WorkflowSettings, values, "settings", lines, self.lines.get("settings"))

    def on_failure(self) -> tuple[str, dict[str, Any]]:
        raw = self.data.get("on_failure")
        if raw is None:
            return "fail_fast", {}
        if isinstance(raw, str) and raw in _ON_FAILURE:
            return raw, {}
        if isinstance(raw, dict):
            actions = [str(raw["action"])] if "action" in raw else []
            actions += [str(k) for k in raw if k != "action"]
        else:
            actions = [str(raw)]
        names = ", ".join(f"`{a}`" for a in actions) or "an empty mapping"
        verb = "are" if len(actions) > 1 else "is"
        self.warnings.append(
            f"on_failure: {names} {verb} not implemented; the run uses fail_fast (or write `on_failure: continue`)"
        )
        return "fail_fast", {"on_failure_spec": raw}

    # ------------------------------------------------------------------ steps

    def steps(self) -> list[StepSpec]:
        raw = self.data.get("steps")
        line = self.lines.get("steps")
        if raw is None:
            raise self.error(
                "the workflow has no `steps`", None, hint="add a `steps:` list of steps"
            )
        if not isinstance(raw, list):
            raise self.error(
                "`steps` must be a list of steps", line, hint="write each step as `- id: ...`"
            )
        nodes = items(child(self.root, "steps"))
        return [self.step(i, s, nodes[i] if i < len(nodes) else None) for i, s in enumerate(raw)]

    def step(self, index: int, raw: Any, node: Any) -> StepSpec:
        line = line_of(node)
        if not isinstance(raw, dict):
            raise self.error(f"step {index + 1} must be a mapping with `id` and `agent`", line)
        lines = key_lines(node)
        for key in ("inputs", "config", "validation"):
            for sub, sub_line in key_lines(child(node, key)).items():
                lines[f"{key}.{sub}"] = sub_line
        sid = raw.get("id", raw.get("name"))
        if sid is None or str(sid).strip() == "":
            raise self.error(
                f"step {index + 1} has no `id` or `name`", line, hint="give it `id: a_short_name`"
            )
        sid = str(sid)
        where = f"step '{sid}'"
        values = {str(k): v for k, v in raw.items()}
        values["id"] = sid
        for key in ("name", "description", "agent"):
            if values.get(key) is not None:
                values[key] = _text(values[key]) if key == "description" else str(values[key])
        prompt = values.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise self.error(f"{where}: `prompt` must be text", lines.get("prompt"))
        condition = values.get("condition")
        if isinstance(condition, bool):
            values["condition"] = "true" if condition else "false"
        elif condition is not None and not isinstance(condition, str):
            values["condition"] = str(condition)
        values["depends_on"] = self.names(values.get("depends_on"), where, "depends_on", lines)
        values["outputs"] = self.names(values.get("outputs"), where, "outputs", lines)
        for key in ("inputs", "config", "validation"):
            if values.get(key) is None:
                values[key] = {}
            elif not isinstance(values[key], dict):
                raise self.error(f"{where}: `{key}` must be a mapping", lines.get(key))
        config = dict(values["config"])
        for key in _CONFIG_KEYS - _STEP_KEYS:
            if key in values:  # `provider:`/`model:` written on the step itself
                top = values.pop(key)
                config.setdefault(key, top)
                if key in lines:
                    lines.setdefault(f"config.{key}", lines[key])
        values["config"] = config
        validation = values["validation"]
        if validation.get("must_approve") is True:
            values["requires_approval"] = True
        retry = values.get("retry")
        if isinstance(retry, int) and not isinstance(retry, bool):
            values["retry"] = {"max_attempts": retry}
        kept = [k for k in raw if str(k) not in _STEP_KEYS and str(k) not in _CONFIG_KEYS]
        kept += [f"config.{k}" for k in config if k not in _CONFIG_KEYS]
        kept += [f"validation.{k}" for k in validation if k != "must_approve"]
        self.kept(where, [str(k) for k in kept])
        values["source"] = SourceLocation(file=self.label, line=line)
        values["field_lines"] = lines
        return self.build(StepSpec, values, where, lines, line)

    def names(self, value: Any, where: str, key: str, lines: dict[str, int]) -> list[str]:
        """Names from a list, a single name, or (for outputs) a mapping's keys."""
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict) and key == "outputs":  # `outputs: {key: description}`
            return [str(k) for k in value]
        if isinstance(value, list):
            out = []
            for item in value:
                if isinstance(item, dict) and "name" in item:
                    item = item["name"]
                if isinstance(item, (dict, list)) or item is None:
                    raise self.error(f"{where}: `{key}` must be a list of names", lines.get(key))
                out.append(str(item))
            return out
        raise self.error(f"{where}: `{key}` must be a list of names", lines.get(key))


def _text(value: Any) -> str | None:
    """Text from a scalar, without the trailing newline of a `|` block."""
    return None if value is None else str(value).rstrip()


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"
