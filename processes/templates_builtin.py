"""Built-in templates: a form's values → the step configurations and the BPMN that orders them.

Step configurations (Process.settings["steps"], by BPMN task id):
- {"kind": "job", "job_type": ..., "snapshot": "model" | "champion" | "step:<id>",
   "inputs": [{"upload": uuid}, ...]}: create a job and wait for it;
- {"kind": "gate", "job_step": "<id>", "rules": ["auc >= 0.8", ...]};
- {"kind": "approval"}: a person who may change the model approves;
- {"kind": "promote", "snapshot": "step:<id>"};
- {"kind": "notify", "email": [...], "webhook": url}.
"""

from __future__ import annotations

from processes import bpmn
from processes.gates import rules_parse


def retrain_promote(values: dict) -> tuple[dict, str]:
    """VALUES: model (uuid), training_data, held_out_data, production_data (upload uuids),
    rules (list of text), approval (bool), notify_email (list), notify_webhook (url)."""
    rules_parse(values.get("rules") or [])  # ValidationError before anything is saved
    steps = {
        "train": {
            "kind": "job", "job_type": "training", "snapshot": "model",
            "inputs": [{"upload": values["training_data"]}],
        },
        "evaluate": {
            "kind": "job", "job_type": "metrics", "snapshot": "step:train",
            "inputs": [{"upload": values["held_out_data"]}],
        },
        "gate": {"kind": "gate", "job_step": "evaluate", "rules": list(values.get("rules") or [])},
    }  # fmt: skip
    order = [
        ("train", "Train a new version", "serviceTask"),
        ("evaluate", "Measure it on held-out data", "serviceTask"),
        ("gate", "Gate", "serviceTask"),
    ]
    if values.get("approval"):
        steps["approve"] = {"kind": "approval"}
        order.append(("approve", "Approval", "userTask"))
    steps["promote"] = {"kind": "promote", "snapshot": "step:train"}
    order.append(("promote", "Promote to champion", "serviceTask"))
    steps["score"] = {
        "kind": "job", "job_type": "scoring", "snapshot": "champion",
        "inputs": [{"upload": values["production_data"]}],
    }  # fmt: skip
    order.append(("score", "Score production data with the champion", "serviceTask"))
    if values.get("notify_email") or values.get("notify_webhook"):
        steps["notify"] = {
            "kind": "notify",
            "email": list(values.get("notify_email") or []),
            "webhook": values.get("notify_webhook") or "",
        }
        order.append(("notify", "Notify", "sendTask"))
    xml = bpmn.linear_bpmn(
        process_id="retrain_and_promote", name="Retrain and promote", steps=order
    )
    return {"model": values["model"], **{k: v for k, v in values.items()}, "steps": steps}, xml


def scheduled_scoring(values: dict) -> tuple[dict, str]:
    """VALUES: model (uuid), data (upload uuid), cron. On the schedule, the champion scores the
    data."""
    steps = {
        "score": {"kind": "job", "job_type": "scoring", "snapshot": "champion",
                  "inputs": [{"upload": values["data"]}]},
    }  # fmt: skip
    order = [("score", "Score with the champion", "serviceTask")]
    xml = bpmn.linear_bpmn(process_id="scheduled_scoring", name="Scheduled scoring", steps=order)
    return {**values, "steps": steps}, xml


def champion_challenger(values: dict) -> tuple[dict, str]:
    """VALUES: model (uuid), data (labeled upload uuid), keys (metrics to compare, e.g.
    ["auc"]), margin (how much better the challenger must be). On a new snapshot: metrics of the
    challenger (the new snapshot) and of the champion on the same data → comparison → promote
    the challenger when it is at least as good by every key (plus the margin)."""
    keys = [k.strip() for k in values.get("keys") or ["auc"] if k.strip()]
    steps = {
        "challenger": {"kind": "job", "job_type": "metrics", "snapshot": "trigger",
                       "inputs": [{"upload": values["data"]}]},
        "champion": {"kind": "job", "job_type": "metrics", "snapshot": "champion",
                     "inputs": [{"upload": values["data"]}]},
        "compare": {"kind": "gate", "job_step": "challenger", "compare_step": "champion",
                    "compare": keys, "margin": float(values.get("margin") or 0)},
        "promote": {"kind": "promote", "snapshot": "step:challenger"},
    }  # fmt: skip
    order = [
        ("challenger", "Measure the challenger", "serviceTask"),
        ("champion", "Measure the champion on the same data", "serviceTask"),
        ("compare", "Compare", "serviceTask"),
        ("promote", "Promote the challenger", "serviceTask"),
    ]
    xml = bpmn.linear_bpmn(
        process_id="champion_challenger", name="Champion/challenger", steps=order
    )
    return {**values, "keys": keys, "steps": steps}, xml
