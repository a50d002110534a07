"""The `moc` command against a live server, without running jobs: logging in, reading
models, snapshots and runtimes, and the exit codes of every kind of failure."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from moc_cli.config import config_path
from models_registry import demo
from models_registry.models import Model
from tests.cli.conftest import assert_error, last_word
from tests.conftest import PASSWORD
from tests.demo import demo_snapshot
from tests.servers import closed_port

pytestmark = pytest.mark.django_db(transaction=True)


def test_init_then_login_by_answering_the_prompts_saves_a_token(make_moc, alice, live_server):
    moc = make_moc()
    del moc.env["MOC_URL"]

    init = moc("init", live_server.url + "/")
    assert init.returncode == 0, init.stderr
    assert "moc login" in init.stdout

    login = moc("login", input=f"alice\n{PASSWORD}\n")

    assert login.returncode == 0, login.stderr
    assert f"Logged in to {live_server.url} as alice" in login.stdout
    config_file = next((moc.cwd.parent / "config").rglob("config.json"))
    saved = json.loads(config_file.read_text())
    assert saved["url"] == live_server.url and saved["username"] == "alice"
    assert len(saved["token"]) >= 20
    assert oct(config_file.stat().st_mode & 0o777) == "0o600"  # the token is a secret
    me = moc("whoami", "--json")  # no MOC_URL or MOC_TOKEN: the saved ones
    assert me.returncode == 0, me.stderr
    assert json.loads(me.stdout)["username"] == "alice"


def test_login_with_a_wrong_password_exits_4(make_moc, alice):
    moc = make_moc()

    result = moc("login", "--username", "alice", input="not the password\n")

    assert_error(result, 4, "Wrong user name or password")


def test_logout_forgets_the_token(make_moc, alice):
    moc = make_moc()
    assert moc("login", input=f"alice\n{PASSWORD}\n").returncode == 0
    assert moc("whoami").returncode == 0

    assert moc("logout").returncode == 0

    assert_error(moc("whoami"), 4, "moc login")


def test_a_bad_token_exits_4(make_moc):
    moc = make_moc()

    result = moc("model", "list", env={"MOC_TOKEN": "0" * 40})

    assert_error(result, 4, "moc login")
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_expired_token_exits_4_and_says_to_log_in_again(make_moc, alice, settings):
    from api.authentication import key_digest
    from api.models import ApiToken

    moc = make_moc(alice)
    old = timezone.now() - timedelta(days=settings.API_TOKEN_TTL_DAYS + 1)
    ApiToken.objects.filter(digest=key_digest(moc.env["MOC_TOKEN"])).update(created_at=old)

    assert_error(moc("job", "list"), 4, "expired", "moc login")


def test_no_server_set_exits_4_and_says_how_to_set_one(make_moc):
    moc = make_moc()
    del moc.env["MOC_URL"]

    assert_error(moc("model", "list"), 4, "moc init")


def test_a_server_that_is_down_exits_5(make_moc, alice):
    moc = make_moc(alice, url=f"http://127.0.0.1:{closed_port()}")

    result = moc("job", "list", env={"MOC_OUTAGE_SECONDS": "1"})

    assert_error(result, 5, "Cannot reach the server", "tried for 1 s")
    assert "retrying for up to 1 s" in result.stderr
    assert_error(moc("init", moc.env["MOC_URL"]), 5, "Cannot reach the server")  # at once
    assert not list((moc.cwd.parent / "config").rglob("config.json"))  # nothing saved


def test_an_unknown_uuid_exits_3(moc, iris_sample):
    unknown = str(uuid.uuid4())

    assert_error(moc("job", "status", unknown), 3, unknown)
    assert_error(moc("job", "result", unknown), 3, unknown)
    assert_error(moc("model", "show", unknown), 3, unknown)
    assert_error(moc("job", "create", "batchjob", unknown, str(iris_sample), "out.jsonl"), 3)


def test_an_outsider_gets_not_found_for_a_model_of_another_team(make_moc, charlie, alice,
                                                                  team_alpha):  # fmt: skip
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    moc = make_moc(charlie)

    assert_error(moc("model", "show", str(snapshot.model.uuid)), 3)
    assert_error(moc("snapshot", "list", str(snapshot.model.uuid)), 3)
    assert json.loads(moc("model", "list", "--json").stdout) == []


def test_usage_errors_exit_2(moc, alice, team_alpha):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)

    assert moc("job", "create", "batchjob").returncode == 2
    assert moc("job", "status", "not-a-uuid").returncode == 2
    missing = moc("job", "create", "batchjob", str(snapshot.uuid), "nowhere.csv", "out.jsonl")
    assert missing.returncode == 2 and "no file 'nowhere.csv'" in missing.stderr
    bad_output = moc("job", "create", "batchjob", str(snapshot.uuid), "s3://b/k", "out.txt")
    assert bad_output.returncode == 2 and "cannot tell the output format" in bad_output.stderr
    assert "Traceback" not in missing.stderr + bad_output.stderr
    assert_error(moc("job", "list", env={"MOC_URL": "localhost:8000"}), 2, "not a server address")


def test_input_the_server_rejects_exits_6_with_its_message(moc, alice, team_alpha, iris_sample):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)  # iris: no train function

    result = moc("job", "create", "trainingjob", str(snapshot.uuid), str(iris_sample), "o.jsonl")

    assert_error(result, 6, "no train function")


def test_a_runtime_without_the_snapshots_tags_exits_6_with_the_servers_message(
    moc, alice, team_alpha, iris_sample
):
    from jobs.models import Runtime

    Runtime.objects.create(name="dev", queue="dev", tags=["dev"])
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    snapshot.runtime_tags = ["PROD", "gpu"]
    snapshot.save(update_fields=["runtime_tags"])

    result = moc(
        "job", "create", "batchjob", str(snapshot.uuid), str(iris_sample), "o.jsonl",
        "--runtime", "dev",
    )  # fmt: skip

    assert_error(result, 6, "runtime dev lacks the tags PROD, gpu that snapshot v1 requires")


def test_model_list_show_and_snapshots_print_tables_and_json(moc, alice, team_alpha):
    snapshot = demo_snapshot(owner=alice, team=team_alpha)
    model_uuid = str(snapshot.model.uuid)

    table = moc("model", "list")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["UUID", "NAME", "TEAM"]
    assert f"{model_uuid}  iris" in table.stdout
    listed = json.loads(moc("model", "list", "--json").stdout)
    assert [m["uuid"] for m in listed] == [model_uuid]
    shown = json.loads(moc("model", "show", model_uuid, "--json").stdout)
    assert shown["name"] == "iris" and shown["snapshots"][0]["uuid"] == str(snapshot.uuid)
    snapshots = json.loads(moc("snapshot", "list", model_uuid, "--json").stdout)
    assert [s["version"] for s in snapshots] == [1]
    assert str(snapshot.uuid) in moc("snapshot", "list", model_uuid).stdout
    detail = moc("snapshot", "show", str(snapshot.uuid))
    assert detail.returncode == 0 and "score" in detail.stdout
    runtimes = moc("runtime", "list", "--json")
    assert runtimes.returncode == 0, runtimes.stderr
    assert isinstance(json.loads(runtimes.stdout), list)
    assert json.loads(moc("job", "list", "--json").stdout) == []


def test_model_create_uploads_the_source_and_attachments(moc, tmp_path):
    source = tmp_path / demo.SOURCE_NAME
    source.write_text(demo.source())
    pickle = tmp_path / "model.pickle"
    pickle.write_bytes(demo.train_pickle())
    schema = tmp_path / "input_schema.avsc"
    schema.write_bytes(demo.schema("input_schema.avsc"))

    result = moc("model", "create", "iris-cli", str(source), "-a", str(pickle), "-a", str(schema),
                 "--tags", "demo,cli", "--description", "from the command line")  # fmt: skip

    model = Model.objects.get(uuid=last_word(result))
    assert model.name == "iris-cli" and model.owner.username == "alice"
    names = sorted(a.name for a in model.latest_snapshot().attachments.all())
    assert names == ["input_schema.avsc", "model.pickle"]

    added = moc("snapshot", "create", str(model.uuid), str(source), "-a", str(pickle),
                "--notes", "refit")  # fmt: skip

    snapshot = model.snapshots.get(uuid=last_word(added))
    assert (snapshot.version, snapshot.notes) == (2, "refit")
    assert "v2" in moc("model", "show", str(model.uuid)).stdout


def test_the_config_folder_follows_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))

    assert config_path() == tmp_path / "moc" / "config.json"


def test_a_script_uses_the_token_manage_py_api_token_prints(make_moc, alice):
    out = io.StringIO()
    call_command("api_token", "alice", stdout=out, stderr=io.StringIO())
    moc = make_moc()

    result = moc("whoami", env={"MOC_TOKEN": out.getvalue().strip()})

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("alice (alpha)")
