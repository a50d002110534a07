"""The engine's steps run in this process by run_advance, the function every worker's loop
calls (the e2e tests run it in a real worker): notify by email and webhook, an approval's mail,
an unconfigured step."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from processes import bpmn
from processes.engine import run_advance
from processes.models import ProcessRun, RunStatus, RunStep, StepStatus, Trigger
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
    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = True  # the test's webhook is on loopback
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


def test_a_webhook_that_does_not_answer_fails_the_step_with_the_reason(
    alice, alice_snapshot, settings
):
    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = True
    process = _process(
        alice, alice_snapshot.model,
        {"notify": {"kind": "notify", "webhook": "http://127.0.0.1:9/hook"}},
        [("notify", "Notify", "sendTask")],
    )  # fmt: skip
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)
    run_advance(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.reason.startswith("Notify: the webhook http://127.0.0.1:9 did not answer")


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


# --- Webhooks reach no internal host (SSRF) ---------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1 is a loopback address"),
        ("http://localhost/hook", "localhost resolves to "),  # ::1 or 127.0.0.1
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "a loopback address"),
        ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("http://192.168.0.10/hook", "192.168.0.10 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
        ("http://240.0.0.1/hook", "240.0.0.1 is a reserved address"),
        ("http://0.0.0.0/hook", "0.0.0.0 is"),
        ("http://100.64.0.1/hook", "100.64.0.1 is not a public address"),
    ],
)
def test_a_webhook_to_an_internal_address_is_refused(url, reason, settings):
    from processes.webhooks import WebhookRefused, webhook_address

    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(WebhookRefused, match="is refused") as caught:
        webhook_address(url)
    assert reason in str(caught.value)
    assert "PROCESS_WEBHOOK_ALLOW_PRIVATE" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/hook", "is not an http or https URL"),
        ("file:///etc/passwd", "is not an http or https URL"),
        ("http://user:secret@example.org/", "may not hold a user name or password"),
        ("http:///hook", "names no host"),
    ],
)
def test_a_webhook_that_is_no_http_url_is_refused(url, reason, settings):
    from processes.webhooks import WebhookRefused, webhook_address

    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = True  # refused whatever the setting
    with pytest.raises(WebhookRefused, match=reason):
        webhook_address(url)


def test_a_public_address_may_be_reached(settings):
    from processes.webhooks import webhook_address

    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = False
    # An IP literal: nothing to resolve, so this holds without a network.
    assert webhook_address("https://93.184.215.14/hook?x=1") == (
        "https", "93.184.215.14", 443, "/hook?x=1", "93.184.215.14"
    )  # fmt: skip


def test_a_process_with_an_internal_webhook_is_refused_when_saved(alice, alice_snapshot, settings):
    from django.core.exceptions import ValidationError

    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(
        ValidationError, match="Step 'notify': The webhook .* 10.0.0.7 is a private"
    ):
        _process(
            alice, alice_snapshot.model,
            {"notify": {"kind": "notify", "webhook": "http://10.0.0.7/hook"}},
            [("notify", "Notify", "sendTask")],
        )  # fmt: skip


def test_a_webhook_is_checked_again_when_it_sends(alice, alice_snapshot, webhook, settings):
    url, received = webhook
    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = True  # allowed when the process was saved ...
    process = _process(
        alice, alice_snapshot.model, {"notify": {"kind": "notify", "webhook": url}},
        [("notify", "Notify", "sendTask")],
    )  # fmt: skip
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)
    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = False  # ... no longer when it sends

    run_advance(run=run)

    run.refresh_from_db()
    step = run.steps.get()
    assert (run.status, run.failed_step, step.status) == (
        RunStatus.FAILED, "notify", StepStatus.FAILED
    )  # fmt: skip
    assert step.reason.startswith("the webhook http://127.0.0.1:")
    assert "is refused: 127.0.0.1 is a loopback address" in step.reason
    assert received == []


@pytest.fixture
def redirecting_webhook(webhook):
    """A webhook that answers 302 to the good one (which then must hear nothing)."""
    target, received = webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/moved", received
    server.shutdown()


def test_a_webhook_redirect_is_not_followed(alice, alice_snapshot, redirecting_webhook, settings):
    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = True
    url, received = redirecting_webhook
    process = _process(
        alice, alice_snapshot.model, {"notify": {"kind": "notify", "webhook": url}},
        [("notify", "Notify", "sendTask")],
    )  # fmt: skip
    run = run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)
    run_advance(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "answered with a redirect (302 to http://127.0.0.1:" in run.reason
    assert "which is not followed" in run.reason
    assert received == []


# --- A notify step sends once, even when its pass outlives its lease ----------------------------


@pytest.fixture
def slow_webhook():
    """A webhook that holds its first answer until .release is set."""
    received, arrived, release = [], threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            arrived.set()
            release.wait(30)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, arrived, release
    release.set()
    server.shutdown()


def _notify_run(user, model, url):
    """A started run of a one-step process that notifies URL."""
    process = _process(
        user, model, {"notify": {"kind": "notify", "webhook": url}},
        [("notify", "Notify", "sendTask")],
    )  # fmt: skip
    return run_start(process=process, trigger_kind=Trigger.Kind.MANUAL)


def _pass_in_thread(run) -> threading.Thread:
    """A pass over RUN in a thread of its own (a worker's loop), with its own connection."""
    from django.db import connection

    def one_pass():
        try:
            run_advance(run=ProcessRun.objects.get(pk=run.pk))
        finally:
            connection.close()

    thread = threading.Thread(target=one_pass)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_notify_step_sends_once_when_its_pass_outlives_its_lease(
    alice, alice_snapshot, slow_webhook, settings
):
    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = True
    url, received, arrived, release = slow_webhook
    run = _notify_run(alice, alice_snapshot.model, url)

    first = _pass_in_thread(run)
    assert arrived.wait(30), "the first pass sent nothing"
    # The first pass hangs in the send past its lease; another worker's loop takes the run.
    ProcessRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    assert run_advance(run=ProcessRun.objects.get(pk=run.pk))

    run.refresh_from_db()
    step = run.steps.get()
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert step.output["webhook"] == "sent"
    assert "not sent again" in step.output["webhook_note"]
    release.set()  # the first pass's send ends now: it finds its lease gone and writes nothing
    first.join(30)
    assert not first.is_alive()
    assert len(received) == 1
    run.refresh_from_db()
    assert (run.status, run.lease_until) == (RunStatus.SUCCEEDED, None)
    assert run.steps.get().output == step.output


@pytest.mark.django_db(transaction=True)
def test_a_notify_step_records_sending_before_it_sends(
    alice, alice_snapshot, slow_webhook, settings
):
    """What a second pass reads: "sending" is in the database while the request is out."""
    settings.PROCESS_WEBHOOK_ALLOW_PRIVATE = True
    url, received, arrived, release = slow_webhook
    run = _notify_run(alice, alice_snapshot.model, url)

    thread = _pass_in_thread(run)
    assert arrived.wait(30)
    assert RunStep.objects.get(run=run).output["webhook"] == "sending"
    release.set()
    thread.join(30)
    assert RunStep.objects.get(run=run).output["webhook"] == "sent"
    assert ProcessRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    assert len(received) == 1
