from __future__ import annotations

from celery import shared_task


@shared_task(name="dryruns.run", ignore_result=True)
def dry_run_task(dry_run_uuid: str) -> None:
    """Thin: the worker's dry-run executor claims it and runs the model sandboxed."""
    from jobs.worker.dryrun import dry_run_execute

    dry_run_execute(dry_run_uuid=dry_run_uuid)
