"""The BPMN side: parse a definition with SpiffWorkflow, write one for a template, and list
its steps in order for the process page.

Service tasks (and user tasks, for approvals) are parsed as manual tasks: SpiffWorkflow runs
the gateways, events and business rule tasks (DMN decision tables, as Camunda and ModelOp
users have them), and stops at each of our steps until processes.engine has done it.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from django.core.exceptions import ValidationError
from SpiffWorkflow.bpmn.parser.task_parsers import TaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.defaults import ManualTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.exceptions import SpiffWorkflowException

STEP_TAGS = ("serviceTask", "userTask", "manualTask", "sendTask")


class _Parser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        **{full_tag(tag): (TaskParser, ManualTask) for tag in STEP_TAGS},
    }


_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))


def spec_parse(xml: str, dmn: str = ""):
    """The executable process of XML (its first one) with the decision tables of DMN, or
    ValidationError saying why not."""
    parser = _Parser()
    try:
        parser.add_bpmn_str(xml.encode())
        if dmn.strip():
            parser.add_dmn_str(dmn.encode())
        ids = parser.get_process_ids()
        if not ids:
            raise ValidationError("The BPMN file has no process.")
        return parser.get_spec(ids[0]), parser.get_subprocess_specs(ids[0])
    except ValidationError:
        raise
    except (SpiffWorkflowException, ValueError, SyntaxError) as exc:
        raise ValidationError(f"The BPMN file cannot be read: {exc}") from exc


def workflow_new(xml: str, dmn: str = "") -> BpmnWorkflow:
    spec, subprocesses = spec_parse(xml, dmn)
    return BpmnWorkflow(spec, subprocesses)


def workflow_dump(workflow: BpmnWorkflow) -> str:
    return _serializer.serialize_json(workflow)


def workflow_load(state: str) -> BpmnWorkflow:
    return _serializer.deserialize_json(state)


def steps_in_order(xml: str, dmn: str = "") -> list[tuple[str, str]]:
    """(bpmn id, name) of every step and decision table, following the flow from the start."""
    spec, _ = spec_parse(xml, dmn)
    seen, order, todo = set(), [], [spec.start]
    while todo:
        task = todo.pop(0)
        if task.name in seen:
            continue
        seen.add(task.name)
        if isinstance(task, ManualTask | BusinessRuleTask):
            order.append((task.bpmn_id, task.bpmn_name or task.bpmn_id))
        todo.extend(task.outputs)
    return order


def linear_bpmn(*, process_id: str, name: str, steps: list[tuple[str, str, str]]) -> str:
    """A start event, STEPS ((id, name, BPMN tag) in order), an end event."""
    ids = ["start", *(s[0] for s in steps), "end"]
    nodes = ['    <bpmn:startEvent id="start" />']
    nodes += [f"    <bpmn:{tag} id={quoteattr(i)} name={quoteattr(n)} />" for i, n, tag in steps]
    nodes.append('    <bpmn:endEvent id="end" />')
    flows = [
        f'    <bpmn:sequenceFlow id="flow_{n}" sourceRef="{a}" targetRef="{b}" />'
        for n, (a, b) in enumerate(zip(ids, ids[1:], strict=False))
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        f'id="definitions_{process_id}" targetNamespace="urn:commandcenter:processes">\n'
        f"  <bpmn:process id={quoteattr(process_id)} name={quoteattr(name)} "
        'isExecutable="true">\n' + "\n".join(nodes + flows) + "\n  </bpmn:process>\n"
        "</bpmn:definitions>\n"
    )
