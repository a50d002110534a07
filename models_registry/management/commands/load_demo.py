from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError

from models_registry import demo
from models_registry.demo import credit
from models_registry.models import Model
from models_registry.services import model_create

DEMO_NAME = "Iris classifier (demo)"
CREDIT_NAME = "Credit approval (demo)"
CREDIT_PROCESS_NAME = "Retrain and promote the credit model (demo)"


class Command(BaseCommand):
    help = (
        "Load the demo models (an iris classifier trained now on scikit-learn's iris data, and "
        "a credit approval model with scoring, metrics and training) and their sample data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", default="admin", help="user who owns the demo model")
        parser.add_argument("--team", default="demo", help="team (group) the model belongs to")

    def handle(self, *args, owner: str, team: str, **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"No user {owner!r}; create it first.")
        group, _ = Group.objects.get_or_create(name=team)
        user.groups.add(group)
        self._iris(user, group)
        self._credit(user, group)
        self._credit_process(user)

    def _iris(self, user, group) -> None:
        sample = demo.write_sample_jsonl(settings.DATA_DIR / "demo" / "iris_sample.jsonl")
        if Model.objects.filter(name=DEMO_NAME).exists():
            self.stdout.write(f"Demo model already loaded; sample input: {sample}")
            return
        model_create(
            owner=user,
            team=group,
            name=DEMO_NAME,
            description="Logistic regression on scikit-learn's iris data set, trained at set-up.",
            tags=["demo", "classification"],
            source_name=demo.SOURCE_NAME,
            source=demo.source(),
            attachments=[
                ContentFile(demo.train_pickle(), name="model.pickle"),
                ContentFile(demo.schema("input_schema.avsc"), name="input_schema.avsc"),
                ContentFile(demo.schema("output_schema.avsc"), name="output_schema.avsc"),
                ContentFile(sample.read_bytes(), name="sample_input.jsonl"),
            ],
            notes="Loaded by load_demo.",
        )
        self.stdout.write(f"Demo model loaded; sample input: {sample}")

    def _credit(self, user, group) -> None:
        train, test = credit.write_samples(settings.DATA_DIR / "demo")
        if Model.objects.filter(name=CREDIT_NAME).exists():
            self.stdout.write(f"Credit demo model already loaded; labeled data: {train}, {test}")
            return
        with credit.attachments(train, test) as files:
            model_create(
                owner=user,
                team=group,
                name=CREDIT_NAME,
                description=(
                    "Logistic regression on synthetic loan applications, with score, metrics "
                    "and train functions; 'gender' is a protected attribute."
                ),
                tags=["demo", "classification", "fairness"],
                source_name=credit.SOURCE_NAME,
                source=credit.source(),
                attachments=files,
                notes="Loaded by load_demo.",
            )
        self.stdout.write(f"Credit demo model loaded; labeled data: {train}, {test}")

    def _credit_process(self, user) -> None:
        """A Retrain-and-promote process for the credit model, so the first start shows one."""
        from django.core.files import File

        from jobs.services.uploads import upload_create
        from processes.models import Process
        from processes.services import process_create_retrain

        model = Model.objects.filter(name=CREDIT_NAME).first()
        if model is None or Process.objects.filter(name=CREDIT_PROCESS_NAME).exists():
            return
        folder = settings.DATA_DIR / "demo"
        uploads = {}
        for key, name in (("train", "credit_train.csv"), ("test", "credit_test.csv")):
            with open(folder / name, "rb") as f:
                uploads[key] = upload_create(owner=user, content=File(f, name=name))
        process_create_retrain(
            user=user, name=CREDIT_PROCESS_NAME,
            values={"model": str(model.uuid), "training_data": str(uploads["train"].uuid),
                    "held_out_data": str(uploads["test"].uuid),
                    "production_data": str(uploads["test"].uuid),
                    "rules": ["auc >= 0.7"]},
        )  # fmt: skip
        self.stdout.write(f"Demo process loaded: {CREDIT_PROCESS_NAME}")
