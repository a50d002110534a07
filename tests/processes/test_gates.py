from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from processes.gates import gate_evaluate, metric_values, rule_parse, rules_parse


def test_a_rule_is_parsed_with_its_operator_and_bounds():
    assert rule_parse("auc >= 0.80").op == ">="
    between = rule_parse("disparate_impact between 0.8 and 1.25")
    assert (between.key, between.low, between.high) == ("disparate_impact", 0.8, 1.25)


@pytest.mark.parametrize("text", ["auc", "auc => 1", "1 >= auc", "x between 2 and 1", "a;b > 1"])
def test_a_rule_not_understood_is_refused_with_an_example(text):
    with pytest.raises(ValidationError):
        rule_parse(text)


def test_too_many_rules_are_refused():
    with pytest.raises(ValidationError, match="at most"):
        rules_parse(["auc > 0.5"] * 51)


def test_modelop_flat_keys_are_found_inside_nested_metrics():
    metrics = {
        "auc": 0.9,
        "bias": [{"group": "F", "values": {"disparate_impact": 0.7}},
                 {"group": "M", "values": {"disparate_impact": 1.0}}],
        "performance": {"f1": 0.5},
    }  # fmt: skip
    assert sorted(metric_values(metrics, "disparate_impact")) == [0.7, 1.0]
    assert metric_values(metrics, "performance.f1") == [0.5]
    assert metric_values(metrics, "auc") == [0.9]


def test_a_gate_fails_on_the_first_failing_value_and_names_it():
    metrics = {"auc": 0.9, "bias": [{"disparate_impact": 0.7}, {"disparate_impact": 1.0}]}
    rules = rules_parse("auc >= 0.8\ndisparate_impact between 0.8 and 1.25")

    verdict = gate_evaluate(rules=rules, metrics=metrics)

    assert verdict["passed"] is False
    assert [r["passed"] for r in verdict["rules"]] == [True, False]
    assert verdict["failed"] == (
        "rule 'disparate_impact between 0.8 and 1.25' failed: disparate_impact = 0.7"
    )


def test_a_gate_over_a_missing_key_fails_and_says_so():
    verdict = gate_evaluate(rules=rules_parse(["recall >= 0.5"]), metrics={"auc": 1})
    assert verdict["failed"] == "rule 'recall >= 0.5' failed: the metrics have no number 'recall'"
    assert gate_evaluate(rules=rules_parse(["auc > 0.5"]), metrics=None)["passed"] is False
