"""Model environments: a snapshot with a requirements.txt runs in packages built for it
(jobs/worker/envs.py), through job_execute and the real, sandboxed child process.

Building needs the package index (PyPI). The environment is built once per test session,
in a folder the session keeps, and every test after the first reuses it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid

import orjson
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command

from jobs.models import JobAsset, JobStatus
from jobs.runner.errors import JobError
from jobs.runner.sandbox import landlock_abi
from jobs.services import InputSpec, job_submit
from jobs.worker.envs import (
    Environment,
    environment_key,
    environment_list,
    requirements_normalise,
)
from jobs.worker.supervisor import job_execute
from models_registry.services import model_create

pytestmark = pytest.mark.django_db(transaction=True)

# An older pandas than the server's, the numpy it was built for, and a scikit-learn of its
# time (to load pickles made with it).
OLD_STACK = "pandas==1.5.3\nnumpy<2   # pandas 1.5 is built for numpy 1\nscikit-learn==1.2.2\n"

VERSIONS_MODEL = """\
import pandas
import numpy
import sklearn


# modelop.score
def action(datum):
    yield {"id": datum["id"], "pandas": pandas.__version__, "numpy": numpy.__version__,
           "sklearn": sklearn.__version__, "pandas_file": pandas.__file__}
"""

PICKLE_MODEL = """\
import pickle


# modelop.init
def begin():
    global clf
    with open("model.pickle", "rb") as f:
        clf = pickle.load(f)


# modelop.score
def action(datum):
    yield {"id": datum["id"], "label": int(clf.predict([[datum["x"]]])[0])}
"""


@pytest.fixture(scope="session")
def env_dir(tmp_path_factory):
    """Environments of the whole session: the first test that needs one builds it."""
    return tmp_path_factory.mktemp("envs")


@pytest.fixture(autouse=True)
def env_settings(in_process_executor, env_dir):
    in_process_executor.MODEL_ENV_DIR = env_dir
    return in_process_executor


def snapshot_with(source: str, *, owner, team, attachments: dict[str, bytes]):
    model = model_create(
        owner=owner,
        team=team,
        name=f"m-{uuid.uuid4().hex[:6]}",
        source_name="model.py",
        source=source,
        attachments=[ContentFile(data, name=name) for name, data in attachments.items()],
    )
    return model.latest_snapshot()


def run(user, snapshot, *records):
    data = "".join(orjson.dumps(r).decode() + "\n" for r in records)
    job = job_submit(
        user=user,
        snapshot=snapshot,
        inputs=[InputSpec(kind=JobAsset.Kind.EMBEDDED, data=data)],
    )
    started = time.monotonic()
    job_execute(job_uuid=str(job.uuid))
    job.refresh_from_db()
    job.seconds = time.monotonic() - started
    return job


def output_of(job) -> list[dict]:
    with job.output_asset().file.open("rb") as f:
        return [orjson.loads(line) for line in f]


def old_stack_env() -> Environment:
    return Environment(environment_key(requirements_normalise(OLD_STACK)))


PROBE = """

def _reads(path):
    try:
        open(path, "rb").read(1) if os.path.isfile(path) else os.listdir(path)
        return "read"
    except OSError:
        return "denied"


# modelop.score
def action(datum):
    yield {"id": datum["id"], "pandas": pandas.__version__, "numpy": numpy.__version__,
           "sklearn": sklearn.__version__, "pandas_file": pandas.__file__,
           "secret_key": _reads(%(secret)r), "env_dir": _reads(%(envs)r),
           "checkout": _reads(%(checkout)r)}
"""


def test_a_model_pinning_pandas_1_5_runs_in_its_environment(alice, team_alpha, env_dir, settings):
    source = (
        "import os\n"
        + VERSIONS_MODEL.split("# modelop.score")[0]
        + PROBE
        % {
            "secret": str(settings.DATA_DIR / "secret_key"),
            "envs": str(env_dir),
            "checkout": str(settings.BASE_DIR / "commandcenter"),
        }
    )
    snapshot = snapshot_with(
        source, owner=alice, team=team_alpha,
        attachments={"requirements.txt": OLD_STACK.encode()},
    )  # fmt: skip

    job = run(alice, snapshot, {"id": 1})

    assert job.status == JobStatus.COMPLETE, f"{job.error_message}\n{job.log}"
    [record] = output_of(job)
    assert (record["pandas"], record["sklearn"]) == ("1.5.3", "1.2.2")
    assert record["numpy"].startswith("1.")
    assert record["pandas_file"].startswith(str(old_stack_env().site_packages))
    assert "preparing the model's environment" in job.log
    assert job.sandbox["on"] == (landlock_abi() > 0)  # sandboxed as any other model
    if job.sandbox["on"]:  # its environment's folder opens nothing else
        assert (record["secret_key"], record["env_dir"], record["checkout"]) == ("denied",) * 3
    print(f"first job in the environment: {job.seconds:.1f} s")


def test_a_second_job_reuses_the_environment_without_building_it_again(alice, team_alpha):
    snapshot = snapshot_with(
        VERSIONS_MODEL, owner=alice, team=team_alpha,
        # The same requirements, written otherwise: the same environment.
        attachments={"requirements.txt": b"scikit-learn == 1.2.2\n\nnumpy<2\npandas==1.5.3\n"},
    )  # fmt: skip
    first = run(alice, snapshot, {"id": 1})  # builds it, unless an earlier test did
    assert first.status == JobStatus.COMPLETE, f"{first.error_message}\n{first.log}"
    env = old_stack_env()
    built = env.built()

    second = run(alice, snapshot, {"id": 2})

    assert second.status == JobStatus.COMPLETE, f"{second.error_message}\n{second.log}"
    assert output_of(second)[0]["pandas"] == "1.5.3"
    assert env.built() == built  # not built again
    assert "the model's environment is ready" in second.log
    assert env.key in [e.key for e in environment_list()]
    print(f"built in {built['seconds']} s; a job reusing it took {second.seconds:.1f} s")


def test_a_model_loads_a_pickle_made_with_its_pinned_scikit_learn(alice, team_alpha, tmp_path):
    requirements = {"requirements.txt": OLD_STACK.encode()}
    probe = snapshot_with(VERSIONS_MODEL, owner=alice, team=team_alpha, attachments=requirements)
    assert run(alice, probe, {"id": 1}).status == JobStatus.COMPLETE  # the environment exists
    made = subprocess.run(
        [sys.executable, "-c", (
            "import pickle, sys, sklearn; from sklearn.linear_model import LogisticRegression\n"
            "clf = LogisticRegression().fit([[0], [1], [2], [3]], [0, 0, 1, 1])\n"
            "assert sklearn.__version__ == '1.2.2'\n"
            "sys.stdout.buffer.write(pickle.dumps(clf))"
        )],
        env={**os.environ, "PYTHONPATH": str(old_stack_env().site_packages)},
        capture_output=True, check=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    snapshot = snapshot_with(
        PICKLE_MODEL, owner=alice, team=team_alpha,
        attachments={**requirements, "model.pickle": made},
    )  # fmt: skip

    job = run(alice, snapshot, {"id": 1, "x": 0}, {"id": 2, "x": 3})

    assert job.status == JobStatus.COMPLETE, f"{job.error_message}\n{job.log}"
    assert [r["label"] for r in output_of(job)] == [0, 1]
    assert "InconsistentVersionWarning" not in job.log


def test_a_requirement_that_does_not_exist_ends_the_job_in_error_naming_it(alice, team_alpha):
    missing = f"no-such-package-moc-{uuid.uuid4().hex[:8]}"
    snapshot = snapshot_with(
        VERSIONS_MODEL, owner=alice, team=team_alpha,
        attachments={"requirements.txt": f"pandas==1.5.3\n{missing}==1.0\n".encode()},
    )  # fmt: skip

    job = run(alice, snapshot, {"id": 1})

    assert job.status == JobStatus.ERROR
    assert f"'{missing}==1.0' could not be installed" in job.error_message
    assert "preparing the model's environment" in job.log
    assert missing in job.log  # uv's own words, in the job's log
    env = Environment(environment_key(requirements_normalise(f"pandas==1.5.3\n{missing}==1.0")))
    assert not env.is_ready() and missing in env.log_path.read_text()  # its log is kept


@pytest.mark.parametrize(
    "line",
    ["--index-url https://evil.example/simple", "-e .", "pkg @ https://evil.example/pkg.whl",
     "./local-folder", "not a requirement!"],
)  # fmt: skip
def test_options_urls_and_paths_are_refused_before_anything_is_installed(line):
    with pytest.raises(JobError, match="line 2"):
        requirements_normalise(f"pandas\n{line}\n")


def test_the_key_ignores_comments_order_and_spacing():
    one = requirements_normalise("pandas==1.5.3  # old\nnumpy<2\n")
    other = requirements_normalise("\n# pins\nnumpy < 2\npandas == 1.5.3\n")
    assert environment_key(one) == environment_key(other)
    assert environment_key(one) != environment_key(requirements_normalise("pandas==1.5.2"))


def test_staff_list_and_remove_environments_with_model_envs(alice, team_alpha):
    snapshot = snapshot_with(
        VERSIONS_MODEL, owner=alice, team=team_alpha,
        attachments={"requirements.txt": OLD_STACK.encode()},
    )  # fmt: skip
    assert run(alice, snapshot, {"id": 1}).status == JobStatus.COMPLETE
    env = old_stack_env()
    out = io.StringIO()
    call_command("model_envs", "list", stdout=out)
    assert env.key[:12] in out.getvalue() and "pandas==1.5.3" in out.getvalue()

    # A copy, so that removing it leaves the session's environment to the other tests.
    copy = Environment("0" * 64)
    subprocess.run(["cp", "-a", str(env.path), str(copy.path)], check=True)
    call_command("model_envs", "remove", "0000000000", stdout=io.StringIO())
    assert not copy.path.exists()
    assert env.is_ready()


def test_the_job_page_says_the_models_environment_is_being_prepared(alice_client, alice_snapshot,
                                                                     alice):  # fmt: skip
    from django.urls import reverse

    from tests.jobs.test_views import make_job

    job = make_job(
        alice_snapshot, alice, status=JobStatus.RUNNING,
        log="preparing the model's environment (3 requirements, 0123456789ab)\n"
            "Resolved 10 packages in 400ms\n",
    )  # fmt: skip

    page = alice_client.get(reverse("jobs-status", args=[job.uuid]), HTTP_HX_REQUEST="true")

    assert "Preparing the model's environment" in page.text
    assert "Resolved 10 packages" in page.text  # the build's log


def test_two_workers_on_one_machine_build_an_environment_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from jobs.worker.envs import environment_prepare

    requirements = f"six==1.16.0\n# {uuid.uuid4().hex}\n"  # comments do not count: one env
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with ThreadPoolExecutor(2) as pool:
        envs = list(pool.map(
            lambda log: environment_prepare(requirements=requirements, log_path=log), logs
        ))  # fmt: skip

    assert envs[0] == envs[1] and envs[0].is_ready()
    texts = [log.read_text() for log in logs]
    assert sum("the model's environment is built in" in text for text in texts) == 1, texts


def test_a_build_longer_than_its_time_limit_fails_the_job(tmp_path, settings):
    from jobs.worker.envs import environment_prepare

    settings.ENV_BUILD_TIMEOUT_SECONDS = 0.05
    with pytest.raises(JobError, match="took longer than 0.05 s to build"):
        environment_prepare(requirements="six==1.15.0\n", log_path=tmp_path / "job.log")
