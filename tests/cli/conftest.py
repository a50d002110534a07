"""Fixtures of the CLI tests: the real `moc` console script run as a subprocess against
pytest-django's live server (a threaded server in the test process, on the test database),
with a temp config folder, MOC_URL and a token made here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from models_registry import demo
from models_registry.demo import credit
from models_registry.services import model_create

_SCRIPT = shutil.which("moc", path=str(Path(sys.executable).parent))
MOC = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "moc_cli"]


@dataclass
class Moc:
    """Runs `moc ARGS...`; the environment is MOC_URL, MOC_TOKEN and a config folder of the
    test's own (nothing of the machine's MOC_* or config leaks in)."""

    env: dict
    cwd: Path
    calls: list = field(default_factory=list)

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None,
                 timeout: float = 180) -> subprocess.CompletedProcess:  # fmt: skip
        merged = {**self.env, **(env or {})}
        merged = {k: v for k, v in merged.items() if v is not None}
        result = subprocess.run(
            [*MOC, *args], input=input, capture_output=True, text=True, env=merged,
            cwd=self.cwd, timeout=timeout,
        )  # fmt: skip
        self.calls.append(result)
        return result


def token_for(user) -> str:
    from api.authentication import token_issue

    return token_issue(user=user).key


def assert_error(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    """The command failed with exit CODE and a clear message on stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert any(line.startswith("Error: ") for line in result.stderr.splitlines()), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def last_word(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout.split()[-1]


@pytest.fixture
def make_moc(live_server, tmp_path):
    def make(user=None, *, url: str | None = None) -> Moc:
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOC_")}
        env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
        env["MOC_URL"] = url or live_server.url
        if user is not None:
            env["MOC_TOKEN"] = token_for(user)
        return Moc(env=env, cwd=work)

    return make


@pytest.fixture
def moc(make_moc, alice) -> Moc:
    """`moc` as alice."""
    return make_moc(alice)


@pytest.fixture
def credit_data(tmp_path) -> tuple[Path, Path]:
    """The credit demo's labeled credit_train.csv (3,000 rows) and credit_test.csv (1,000)."""
    return credit.write_samples(tmp_path / "data")


@pytest.fixture
def credit_model(alice, team_alpha, credit_data):
    """The credit demo model (score, metrics, train), loaded as `manage.py load_demo` does."""
    train, test = credit_data
    with credit.attachments(train, test) as files:
        return model_create(
            owner=alice,
            team=team_alpha,
            name="credit",
            source_name=credit.SOURCE_NAME,
            source=credit.source(),
            attachments=files,
        )


@pytest.fixture
def iris_sample(tmp_path) -> Path:
    """The iris demo's 150 sample records as JSON lines."""
    return demo.write_sample_jsonl(tmp_path / "data" / "iris.jsonl")
