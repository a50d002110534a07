from __future__ import annotations

from django.apps import AppConfig


class CommandCenterConfig(AppConfig):
    name = "commandcenter"
    verbose_name = "Command center"

    def ready(self) -> None:
        from commandcenter import checks  # noqa: F401  (registers the system checks)
        from commandcenter.lib import pgtime

        pgtime.install()
