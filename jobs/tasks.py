from __future__ import annotations

from celery import shared_task


@shared_task(
    name="jobs.run_job", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run_job(self, job_uuid: str) -> None:
    """Thin: the supervisor claims the job (exactly once) and runs it in a child process.
    The job records the Celery worker's name (name@host), which its heartbeats carry too."""
    from jobs.worker.heartbeat import job_in_hand_add, job_in_hand_remove
    from jobs.worker.supervisor import job_execute

    job_in_hand_add(job_uuid)
    try:
        job_execute(job_uuid=job_uuid, worker=self.request.hostname or "")
    finally:
        job_in_hand_remove(job_uuid)
