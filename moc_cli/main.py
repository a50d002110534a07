"""The `moc` command. Exit codes (README, "Command line (moc)"): 0 ok, 1 the job ended not
COMPLETE, 2 usage, 3 not found, 4 not logged in / bad token / forbidden, 5 server unreachable,
6 the server rejected the request."""

from __future__ import annotations

import os
import signal
import sys

import click

from moc_cli import auth, job_create, job_result, jobs, processes, registry
from moc_cli.errors import MocError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="moc")
def cli() -> None:
    """moc: the command center's command line.

    Start with `moc init <url>` and `moc login`; scripts set MOC_URL and MOC_TOKEN instead.
    """


for command in (auth.init, auth.login, auth.logout, auth.whoami, jobs.job_group,
                registry.model_group, registry.snapshot_group, registry.runtime_group,
                processes.process_group, processes.run_group):  # fmt: skip
    cli.add_command(command)
jobs.job_group.add_command(job_create.job_create)
jobs.job_group.add_command(job_result.job_result)


def main(argv: list[str] | None = None) -> None:
    if hasattr(signal, "SIGPIPE"):
        # `moc job result UUID | head`: end quietly when the reader goes, as cat does.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        code = cli.main(args=argv, prog_name="moc", standalone_mode=False)
    except MocError as exc:
        exc.show()
        code = exc.exit_code
    except click.ClickException as exc:  # usage errors: exit code 2
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        code = 130
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        if os.environ.get("MOC_DEBUG"):
            raise
        click.echo(
            f"Error: unexpected {type(exc).__name__}: {exc} (MOC_DEBUG=1 shows the traceback; "
            f"please report it).",
            err=True,
        )
        code = 70
    sys.exit(code if isinstance(code, int) else 0)
