from __future__ import annotations

import factory
from django.contrib.auth.models import Group, User

from jobs.runner.smarttags import parse_smart_tags
from models_registry.models import Model, Snapshot

ECHO_SOURCE = """\
# modelop.init
def begin():
    global factor
    factor = 2

# modelop.score
def action(datum):
    datum["doubled"] = datum["x"] * factor
    yield datum
"""


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"team-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Model

    name = factory.Sequence(lambda n: f"model {n}")
    owner = factory.SubFactory(UserFactory)
    team = factory.SubFactory(GroupFactory)


class SnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Snapshot

    model = factory.SubFactory(ModelFactory)
    version = factory.Sequence(lambda n: n + 1)
    source_name = "model.py"
    source = ECHO_SOURCE
    created_by = factory.SelfAttribute("model.owner")
    smart_tags = factory.LazyAttribute(lambda o: parse_smart_tags(o.source).as_dict())
