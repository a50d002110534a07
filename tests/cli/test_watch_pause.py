"""How long `moc job watch` (and `--wait`) waits between two looks at a job: the interval
while the job has far to go, less when it is about to start or end, so that the command ends
soon after the job does."""

from __future__ import annotations

from moc_cli.jobs import _pause


def test_a_running_job_with_far_to_go_is_looked_at_every_interval():
    assert _pause({"status": "RUNNING", "eta_seconds": 30.0}, 1.0, 1.0) == 1.0


def test_a_running_job_about_to_end_is_looked_at_when_its_eta_says():
    assert _pause({"status": "RUNNING", "eta_seconds": 0.4}, 1.0, 1.0) == 0.4
    assert _pause({"status": "RUNNING", "eta_seconds": 0.0}, 1.0, 1.0) == 0.2


def test_a_job_that_has_read_all_its_input_is_looked_at_soon():
    job = {"status": "RUNNING", "eta_seconds": None, "percent": 100.0}
    assert _pause(job, 1.0, 1.0) == 0.2


def test_a_waiting_job_is_looked_at_more_and_more_rarely_up_to_the_interval():
    pauses, pause = [], 0.0
    for _ in range(8):
        pause = _pause({"status": "WAITING"}, 1.0, pause)
        pauses.append(pause)
    assert pauses[0] == 0.2
    assert pauses == sorted(pauses)
    assert pauses[-1] == 1.0


def test_a_shorter_interval_is_kept():
    assert _pause({"status": "RUNNING", "eta_seconds": 30.0}, 0.1, 0.1) == 0.1
    assert _pause({"status": "WAITING"}, 0.1, 0.0) == 0.1
