"""Threshold rules over the metrics a job produced: `auc >= 0.80`,
`disparate_impact between 0.8 and 1.25`.

A key is looked up at the top level, as a dotted path (`performance.auc`), or anywhere in the
nested objects ModelOp's metrics use (its flat keys such as `disparate_impact` sit inside lists
of per-group objects): every number found under that key must pass."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

_OPS = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_KEY = r"[A-Za-z_][\w.\-]*"
_COMPARE = re.compile(rf"^\s*({_KEY})\s*(>=|<=|==|!=|>|<)\s*({_NUMBER})\s*$")
_BETWEEN = re.compile(rf"^\s*({_KEY})\s+between\s+({_NUMBER})\s+and\s+({_NUMBER})\s*$", re.I)
MAX_RULES = 50


@dataclass(frozen=True)
class Rule:
    text: str
    key: str
    op: str  # one of _OPS, or "between"
    low: float
    high: float | None = None

    def passes(self, value: float) -> bool:
        if self.op == "between":
            return self.low <= value <= self.high
        return _OPS[self.op](value, self.low)


def rule_parse(text: str) -> Rule:
    text = text.strip()
    if m := _COMPARE.match(text):
        return Rule(text=text, key=m[1], op=m[2], low=float(m[3]))
    if m := _BETWEEN.match(text):
        low, high = float(m[2]), float(m[3])
        if low > high:
            raise ValidationError(f"Gate rule {text!r}: {m[2]} is above {m[3]}.")
        return Rule(text=text, key=m[1], op="between", low=low, high=high)
    raise ValidationError(
        f"Gate rule {text!r} is not understood; write e.g. 'auc >= 0.80' or "
        f"'disparate_impact between 0.8 and 1.25'."
    )


def rules_parse(text_or_lines) -> list[Rule]:
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else text_or_lines
    rules = [rule_parse(line) for line in lines if line.strip()]
    if len(rules) > MAX_RULES:
        raise ValidationError(f"A gate has at most {MAX_RULES} rules.")
    return rules


def _numbers(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)] if math.isfinite(value) else []
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def metric_values(metrics, key: str) -> list[float]:
    """Every number METRICS holds under KEY (see the module's docstring)."""
    if not isinstance(metrics, dict):
        return []
    if key in metrics:
        return _numbers(metrics[key])
    node = metrics
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
    else:
        return _numbers(node)
    found: list[float] = []
    stack = [metrics]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if key in node:
                found.extend(_numbers(node[key]))
            stack.extend(v for k, v in node.items() if k != key and isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return found


def gate_evaluate(*, rules: list[Rule], metrics) -> dict:
    """{"passed": bool, "failed": "reason" or "", "rules": [...]} with the values read."""
    results, failed = [], ""
    for rule in rules:
        values = metric_values(metrics, rule.key)
        bad = [v for v in values if not rule.passes(v)]
        passed = bool(values) and not bad
        results.append({"rule": rule.text, "key": rule.key, "values": values, "passed": passed})
        if not passed and not failed:
            if not values:
                failed = f"rule '{rule.text}' failed: the metrics have no number '{rule.key}'"
            else:
                failed = f"rule '{rule.text}' failed: {rule.key} = {bad[0]:.4g}"
    return {"passed": not failed, "failed": failed, "rules": results}
