"""load_demo: both demo models, their sample data, and a second run that changes nothing."""

from __future__ import annotations

import io

import pandas as pd
from django.core.management import call_command

from models_registry.demo import credit
from models_registry.management.commands.load_demo import CREDIT_NAME
from models_registry.models import Model


def test_load_demo_loads_the_credit_model_with_its_labeled_samples_once(
    alice, team_alpha, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"

    call_command("load_demo", owner="alice", team="alpha", stdout=io.StringIO())
    call_command("load_demo", owner="alice", team="alpha", stdout=io.StringIO())

    assert sorted(Model.objects.values_list("name", flat=True)) == [
        "Credit approval (demo)",
        "Iris classifier (demo)",
    ]
    model = Model.objects.get(name="Credit approval (demo)")
    assert model.snapshots.count() == 1
    snapshot = model.latest_snapshot()
    assert set(snapshot.tags_parsed.functions) == {"init", "score", "metrics", "train"}
    assert snapshot.tags_parsed.batch
    assert sorted(a.name for a in snapshot.attachments.all()) == [
        "credit_input_schema.avsc",
        "credit_output_schema.avsc",
        "credit_test.csv",
        "credit_train.csv",
        "model.pickle",
    ]
    train = pd.read_csv(tmp_path / "demo" / "credit_train.csv")
    test = pd.read_csv(tmp_path / "demo" / "credit_test.csv")
    assert (len(train), len(test)) == (3000, 1000)
    assert set(train[credit.PROTECTED]) == {"female", "male"}
    assert set(train[credit.LABEL]) == {0, 1}
    with snapshot.attachments.get(name="credit_train.csv").file.open("rb") as f:
        assert f.read() == (tmp_path / "demo" / "credit_train.csv").read_bytes()


def test_the_credit_sample_is_the_same_on_every_machine():
    first, again = credit.credit_frame(500, seed=2), credit.credit_frame(500, seed=2)
    pd.testing.assert_frame_equal(first, again)
    by_gender = credit.credit_frame(20_000, seed=9).groupby(credit.PROTECTED)[credit.LABEL].mean()
    # A mild effect, for fairness metrics to find: a few points, not a different population.
    assert 0.02 < by_gender["male"] - by_gender["female"] < 0.15


def test_the_demo_loads_a_retrain_and_promote_process_for_the_credit_model(
    alice, team_alpha, settings, tmp_path
):
    from processes.models import Process, Template

    settings.DATA_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    for _ in range(2):  # twice: still one
        call_command("load_demo", owner="alice", team="alpha", stdout=io.StringIO())
    process = Process.objects.get()
    assert process.template == Template.RETRAIN_PROMOTE
    assert process.settings["model"] == str(Model.objects.get(name=CREDIT_NAME).uuid)
    assert process.uploads.count() == 2
    assert set(process.settings["steps"]) == {
        "train",
        "evaluate",
        "gate",
        "promote",
        "score",
    }  # jsonb keeps no key order
