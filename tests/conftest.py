"""Shared fixtures: the named users of every access test.

alice owns models in team "alpha"; bob is her teammate; charlie is an outsider in team
"gamma"; staff is a staff member in no team.
"""

from __future__ import annotations

import pytest

from tests.factories import GroupFactory, ModelFactory, SnapshotFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def team_alpha(db):
    return GroupFactory(name="alpha")


@pytest.fixture
def alice(team_alpha):
    user = UserFactory(username="alice")
    user.groups.add(team_alpha)
    return user


@pytest.fixture
def bob(team_alpha):
    user = UserFactory(username="bob")
    user.groups.add(team_alpha)
    return user


@pytest.fixture
def charlie(db):
    user = UserFactory(username="charlie")
    user.groups.add(GroupFactory(name="gamma"))
    return user


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


@pytest.fixture
def alice_model(alice, team_alpha):
    return ModelFactory(owner=alice, team=team_alpha, name="echo")


@pytest.fixture
def alice_snapshot(alice_model):
    return SnapshotFactory(model=alice_model, version=1)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def charlie_client(client, charlie):
    client.force_login(charlie)
    return client
