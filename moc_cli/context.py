"""What every command gets: the configuration, and an API client made from it on demand."""

from __future__ import annotations

import click

from moc_cli.client import Api
from moc_cli.config import Config, config_load, require_token, require_url


class State:
    def __init__(self) -> None:
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = config_load()
        return self._config

    def api(self, *, login: bool = True) -> Api:
        token = require_token(self.config) if login else ""
        return Api(url=require_url(self.config), token=token)


pass_state = click.make_pass_decorator(State, ensure=True)
