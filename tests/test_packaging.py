"""The project's package list names every app Django loads: a worker machine installed with
`pip install .` (not from a clone) would otherwise fail to start on a missing app."""

from __future__ import annotations

import tomllib
from pathlib import Path

from django.conf import settings
from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent


def test_every_local_app_is_packaged():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packaged = set(find_packages(where=str(ROOT), include=include))
    local_apps = {
        app.split(".apps.")[0]
        for app in settings.INSTALLED_APPS
        if (ROOT / app.split(".")[0]).is_dir()
    }
    assert local_apps, "no local app found: the test would prove nothing"
    assert local_apps - packaged == set()
