"""Where the CLI keeps the server address and the token: a JSON file in the user's config
folder (platformdirs), which MOC_URL and MOC_TOKEN override for scripts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from moc_cli.errors import AUTH, USAGE, MocError


def config_path() -> Path:
    return Path(platformdirs.user_config_dir("moc", appauthor=False)) / "config.json"


@dataclass
class Config:
    url: str = ""
    token: str = ""
    username: str = ""
    url_from_env: bool = False
    token_from_env: bool = False


def url_clean(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")]
    if not url.startswith(("http://", "https://")):
        raise MocError(
            f"{url!r} is not a server address; give one like https://commandcenter.example.com.",
            code=USAGE,
        )
    return url


def _stored() -> dict:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise MocError(
            f"Cannot read the configuration {path} ({exc}); delete it and run `moc init`.",
            code=USAGE,
        ) from exc
    return data if isinstance(data, dict) else {}


def config_load() -> Config:
    stored = _stored()
    env_url, env_token = os.environ.get("MOC_URL", ""), os.environ.get("MOC_TOKEN", "")
    config = Config(
        url=url_clean(env_url) if env_url else stored.get("url", ""),
        token=env_token or stored.get("token", ""),
        username="" if env_token else stored.get("username", ""),
        url_from_env=bool(env_url),
        token_from_env=bool(env_token),
    )
    # A stored token belongs to the stored server; never send it to another one.
    if env_url and not env_token and stored.get("url") != config.url:
        config.token = config.username = ""
    return config


def config_save(**values: str) -> Path:
    """Update the stored configuration with VALUES; the file is readable by its owner only."""
    path = config_path()
    data = {**_stored(), **values}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
    return path


def require_url(config: Config) -> str:
    if not config.url:
        raise MocError("No server set: run `moc init <url>` or set MOC_URL.", code=AUTH)
    return config.url


def require_token(config: Config) -> str:
    require_url(config)
    if not config.token:
        raise MocError("Not logged in: run `moc login` or set MOC_TOKEN.", code=AUTH)
    return config.token
