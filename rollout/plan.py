"""Rollout plans: YAML files validated into ``contracts.RolloutPlan``, with errors that name the line and the field.

``rollout/plans/default.yaml`` has production-like bakes (tens of minutes, thousands of events);
``rollout/plans/quick.yaml`` has bakes of seconds, for demos, tests and drills. ``load_plan("quick")`` finds a
shipped plan by name; any other argument is a file. The plan's format is the ``RolloutPlan`` contract (its JSON
Schema is ``contracts/schemas/RolloutState.json``, under ``spec.strategy``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from contracts import RolloutPlan
from rollout import yamlines
from rollout.errors import PlanError

PLANS_DIR = Path(__file__).parent / "plans"
DEFAULT_PLAN = "default"


def shipped_plans() -> list[str]:
    """Names of the plans that ship with tagstream."""
    return sorted(p.stem for p in PLANS_DIR.glob("*.yaml"))


def plan_path(name_or_path: str | Path) -> Path:
    """A shipped plan's file for a bare name (``quick``), else the path as given."""
    text = str(name_or_path)
    if "/" not in text and not text.endswith((".yaml", ".yml")) and (PLANS_DIR / f"{text}.yaml").is_file():
        return PLANS_DIR / f"{text}.yaml"
    return Path(name_or_path)


def load_plan(name_or_path: str | Path = DEFAULT_PLAN) -> RolloutPlan:
    """Read and validate a plan file (or a shipped plan by name)."""
    path = plan_path(name_or_path)
    try:
        text = path.read_text()
    except OSError as e:
        raise PlanError(f"cannot read plan {path}: {e.strerror}", field="plan",
                        hint=f"give a YAML file, or one of the shipped plans: {', '.join(shipped_plans())}") from e
    return parse_plan(text, source=str(path))


def plan_from_step(name_or_path: str | Path, step: str) -> str:
    """A plan's YAML with the stages before ``step`` left out (its guardrails and analysis kept), named
    ``<name>-from-<step>``: for drills, proofs and benchmarks that start at a later stage."""
    plan = yaml.safe_load(plan_path(name_or_path).read_text())
    names = [stage["name"] for stage in plan["stages"]]
    if step not in names:
        raise PlanError(f"the plan has no stage {step!r}; its stages are {', '.join(names)}", field="stages")
    plan["stages"] = plan["stages"][names.index(step):]
    plan["name"] = f"{plan['name']}-from-{step}"
    return str(yaml.safe_dump(plan, sort_keys=False))


def parse_plan(text: str, *, source: str = "plan") -> RolloutPlan:
    """Validate a plan's YAML text; ``source`` names it in errors (``source:line: field: problem``)."""
    try:
        data, lines = yamlines.load(text)
    except yamlines.YamlError as e:
        where = f"{source}:{e.line}" if e.line else source
        raise PlanError(f"{where}: not valid YAML: {e}", field="plan") from e
    if not isinstance(data, dict):
        raise PlanError(f"{source}: a plan is a mapping with name, stages and guardrails; got {type(data).__name__}",
                        field="plan", hint="see rollout/plans/default.yaml")
    try:
        # through JSON, so that enum keys and values may be plain strings under the contracts' strict mode
        return RolloutPlan.model_validate_json(json.dumps(data, default=str))
    except ValidationError as e:
        problems = [_problem(error, lines, source) for error in e.errors()]
        raise PlanError(f"{source}: the plan is not valid ({len(problems)} problem{'s' * (len(problems) > 1)})",
                        problems=problems, field=_field(e.errors()[0]["loc"]) or "plan",
                        hint="fix the lines named; the format is RolloutPlan in contracts/rolloutplan.py") from e


def _field(loc: tuple[Any, ...]) -> str:
    """``('stages', 2, 'bake', 'time')`` -> ``stages[2].bake.time``; pydantic's type tags are left out."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part[:1].islower() and "[" not in part:
            text += f".{part}" if text else part
    return text


def _problem(error: Any, lines: dict[yamlines.Path, int], source: str) -> str:
    loc = tuple(error["loc"])
    line = yamlines.line_of(lines, loc)
    where = f"{source}:{line}" if line else source
    message = str(error["msg"]).removeprefix("Value error, ")
    field = _field(loc)
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"


def dump_plan(plan: RolloutPlan) -> dict[str, Any]:
    """The plan as JSON-ready data (what the spec carries)."""
    return plan.model_dump(mode="json")
