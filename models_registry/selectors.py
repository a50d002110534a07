from __future__ import annotations

from django.db.models import Count, Max, QuerySet

from models_registry.models import Model, Snapshot


def model_list(*, user) -> QuerySet[Model]:
    """The models USER may see: their teams' models; staff see all."""
    qs = Model.objects.select_related("team", "owner").annotate(
        snapshot_count=Count("snapshots"), latest_version=Max("snapshots__version")
    )
    return _visible(qs, user=user)


def model_choices(*, user) -> QuerySet[Model]:
    """The models of model_list, by name, without its counts and joins: for a choice list."""
    return _visible(Model.objects.only("uuid", "name"), user=user).order_by("name")


def _visible(qs: QuerySet[Model], *, user) -> QuerySet[Model]:
    if user.is_staff:
        return qs
    return qs.filter(team__in=user.groups.all())


def snapshot_list(*, user) -> QuerySet[Snapshot]:
    qs = Snapshot.objects.select_related("model", "model__team", "created_by")
    if user.is_staff:
        return qs
    return qs.filter(model__team__in=user.groups.all())


def user_teams(*, user):
    from django.contrib.auth.models import Group

    return Group.objects.all() if user.is_staff else user.groups.all()


def model_job_snapshot(*, model: Model) -> Snapshot | None:
    """The snapshot a job created by model runs: its champion, else its newest snapshot."""
    return model.champion or model.latest_snapshot()
