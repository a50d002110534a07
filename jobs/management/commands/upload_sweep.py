from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from jobs.services import upload_sweep


class Command(BaseCommand):
    help = (
        "Delete uploaded input files that no job uses, UPLOAD_UNUSED_HOURS after they were "
        "uploaded, and temporary files that interrupted uploads left behind. Run it from cron "
        "(e.g. hourly)."
    )

    def handle(self, *args, **options) -> None:
        swept = upload_sweep()
        self.stdout.write(
            f"Deleted {swept['uploads']} upload(s) unused for {settings.UPLOAD_UNUSED_HOURS} h "
            f"({swept['files']} stored file(s)) and {swept['temporary']} temporary file(s)."
        )
