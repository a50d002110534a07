"""Errors the CLI reports as one line on stderr, each with the exit code scripts rely on."""

from __future__ import annotations

import click

# Exit codes (README, "Command line (moc)").
OK = 0
JOB_FAILED = 1  # the job ended, but not COMPLETE
USAGE = 2  # click's own code for usage errors
NOT_FOUND = 3
AUTH = 4  # not logged in, bad or expired token, forbidden
UNREACHABLE = 5  # no answer from the server, or a server error
REJECTED = 6  # the server refused the request (400, or 409 for a state conflict)


class MocError(click.ClickException):
    """An error with its exit code; click prints it as `Error: <message>` on stderr. OUTAGE
    says, for a server that does not answer or answers that it cannot now, what a retry waits
    out (RETRY_AFTER: the seconds the server asked for)."""

    def __init__(self, message: str, *, code: int, details: list[str] | None = None,
                 outage: str = "", retry_after: float | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.exit_code = code
        self.details = details or []
        self.outage = outage
        self.retry_after = retry_after

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)
        for line in self.details:
            click.echo(f"  {line}", err=True)


def not_found(what: str) -> MocError:
    return MocError(f"{what} not found (unknown, or you may not see it).", code=NOT_FOUND)
