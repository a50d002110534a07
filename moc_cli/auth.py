"""`moc init`, `moc login`, `moc logout`, `moc whoami`."""

from __future__ import annotations

import sys

import click

from moc_cli.client import Api
from moc_cli.config import config_save, require_url, url_clean
from moc_cli.context import State, pass_state
from moc_cli.errors import AUTH, NOT_FOUND, REJECTED, MocError
from moc_cli.options import json_option
from moc_cli.output import echo_json, when


@click.command("init")
@click.argument("url")
@click.option("--no-check", is_flag=True, help="Save the address without asking the server.")
@pass_state
def init(state: State, url: str, no_check: bool) -> None:
    """Set the command center's address, e.g. `moc init https://cc.example.com`."""
    url = url_clean(url)
    if not no_check:
        try:
            Api(url=url).request("GET", "/api/me/", waits=False)  # a wrong address says so now
        except MocError as exc:
            if exc.exit_code == NOT_FOUND:
                raise MocError(
                    f"{url} answers, but has no command center API at {url}/api/.",
                    code=NOT_FOUND,
                ) from None
            if exc.exit_code != AUTH:  # "log in first" is the answer a live server gives
                raise
    stored = state.config
    values = {"url": url}
    if stored.url != url or stored.url_from_env:
        values.update(token="", username="")  # a token belongs to one server
    path = config_save(**values)
    click.echo(f"Server {url} saved in {path}. Next: moc login")


@click.command("login")
@click.option("-u", "--username", default="", help="Your user name (asked when not given).")
@pass_state
def login(state: State, username: str) -> None:
    """Log in with your user name and password; the token is saved in your config folder."""
    config = state.config
    url = require_url(config)
    username = username or click.prompt("User name", default=config.username or None)
    # Hidden input on a terminal; a script may pipe the password in.
    password = click.prompt("Password", hide_input=sys.stdin.isatty())
    try:
        # Safe to send again: a new token replaces one a lost answer carried.
        answer = Api(url=url).post(
            "/api/auth/token/", json={"username": username, "password": password}, waits=True
        )
    except MocError as exc:
        if exc.exit_code == REJECTED:
            raise MocError(str(exc.message), code=AUTH) from None
        raise
    path = config_save(url=url, token=answer["token"], username=answer.get("username", username))
    expires = f", valid until {when(answer['expires_at'])} UTC" if answer.get("expires_at") else ""
    click.echo(f"Logged in to {url} as {answer.get('username', username)}{expires}.")
    click.echo(f"Token saved in {path}.")
    if config.token_from_env:
        click.echo("Note: MOC_TOKEN is set, and wins over the saved token.", err=True)


@click.command("logout")
@pass_state
def logout(state: State) -> None:
    """Forget the saved token."""
    path = config_save(token="", username="")
    click.echo(f"Logged out (token removed from {path}).")


@click.command("whoami")
@json_option
@pass_state
def whoami(state: State, as_json: bool) -> None:
    """Who the token belongs to, and on which server."""
    me = state.api().get("/api/me/")
    if as_json:
        echo_json(me)
        return
    teams = ", ".join(me.get("teams") or []) or "no team"
    staff = ", staff" if me.get("is_staff") else ""
    click.echo(f"{me['username']} ({teams}{staff}) on {state.config.url}")
