from __future__ import annotations

from django.apps import AppConfig


class ProcessesConfig(AppConfig):
    name = "processes"
    verbose_name = "MLC processes"

    def ready(self) -> None:
        from processes import loop  # noqa: F401 (connects to the worker's signals)
