"""The engine's steps run in this process by run_advance, the function every worker's loop
calls (the e2e tests run it in a real worker): notify by email and webhook, an approval's mail,
an unconfigured step."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from processes import bpmn
from processes.engine import run_advance
from processes.models import RunStatus, StepStatus, Trigger
from processes.services import process_create_bpmn, run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def _process(alice, model, steps, tags):
    xml = bpmn.linear_bpmn(process_id="p", name="p", steps=tags)
    return process_create_bpmn(user=alice, name="P", model=model, xml=xml, steps=steps)


def test_a_notify_step_mails_and_calls_the_webhook(alice, alice_snapshot, webhook, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    url, received = webhook
    process = _process(
        alice, alice_snapshot.model,
        {"notify": {"kind": "notify", "email": ["ops@example.org"], "webhook": url}},
        [("notify", "Notify", "sendTask")],
    )  # fmt: skip
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)

    run_advance(run=run)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert [m.to for m in mail.outbox] == [["ops@example.org"]]
    assert received[0]["run"] == str(run.uuid)
    run_advance(run=run)  # a finished run is left alone: nothing is sent twice
    assert (len(mail.outbox), len(received)) == (1, 1)


def test_a_webhook_that_does_not_answer_fails_the_step_with_the_reason(alice, alice_snapshot):
    process = _process(
        alice, alice_snapshot.model,
        {"notify": {"kind": "notify", "webhook": "http://127.0.0.1:9/hook"}},
        [("notify", "Notify", "sendTask")],
    )  # fmt: skip
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)
    run_advance(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.reason.startswith("Notify: the webhook http://127.0.0.1:9/hook did not answer")


def test_an_approval_waits_and_mails_the_team(alice, bob, alice_snapshot, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    bob.email = "bob@example.org"
    bob.save()
    process = _process(
        alice, alice_snapshot.model, {"approve": {"kind": "approval"}},
        [("approve", "Approval", "userTask")],
    )  # fmt: skip
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)

    run_advance(run=run)
    run_advance(run=run)  # still waiting: one mail

    run.refresh_from_db()
    assert run.status == RunStatus.WAITING_APPROVAL
    assert run.steps.get().status == StepStatus.WAITING
    assert [m.to for m in mail.outbox] == [["bob@example.org"]]
    assert run.get_absolute_url() in mail.outbox[0].body


def test_a_step_with_no_configuration_fails_the_run_saying_so(alice, alice_snapshot):
    process = _process(alice, alice_snapshot.model, {}, [("mystery", "Mystery", "serviceTask")])
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)
    run_advance(run=run)
    run.refresh_from_db()
    assert (run.status, run.failed_step) == (RunStatus.FAILED, "mystery")
    assert run.reason == "Mystery: the step 'mystery' has no configuration in the process"
