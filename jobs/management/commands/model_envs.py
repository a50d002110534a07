from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from jobs.worker.envs import environment_list, environment_remove


class Command(BaseCommand):
    help = (
        "List or remove this machine's model environments (built for snapshots with a "
        "requirements.txt, under MODEL_ENV_DIR). A removed environment is built again by the "
        "next job that needs it."
    )

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="the environments, newest use first")
        listing.add_argument("--json", action="store_true", help="as JSON lines")
        remove = actions.add_parser("remove", help="remove environments by key (or prefix)")
        remove.add_argument("keys", nargs="+", metavar="HASH")

    def handle(self, *args, **options) -> None:
        if options["action"] == "list":
            self._list(as_json=options["json"])
        else:
            for key in options["keys"]:
                try:
                    env = environment_remove(key)
                except ValueError as exc:
                    raise CommandError(str(exc)) from None
                self.stdout.write(f"Removed environment {env.key}.")

    def _list(self, *, as_json: bool) -> None:
        infos = sorted(
            (env.info() for env in environment_list()),
            key=lambda info: info["last_used_at"] or "",
            reverse=True,
        )
        if as_json:
            import json

            for info in infos:
                self.stdout.write(json.dumps(info))
            return
        if not infos:
            self.stdout.write(f"No model environment in {settings.MODEL_ENV_DIR}.")
            return
        self.stdout.write(
            f"{'HASH':<12}  {'SIZE':>9}  {'BUILT':<25}  {'LAST USED':<25}  REQUIREMENTS"
        )
        for info in infos:
            built = info["built_at"] or ("building" if not info["ready"] else "?")
            if not info["ready"] and info["built_at"] is None:
                built = "not built (see build.log)"
            self.stdout.write(
                f"{info['key'][:12]:<12}  {filesizeformat(info['size']):>9}  {built:<25}  "
                f"{info['last_used_at'] or '-':<25}  {', '.join(info['requirements'])}"
            )
