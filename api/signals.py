"""A password change (the admin, the password change page, set_password and save, ...) ends
the user's API tokens, as it ends their other sessions."""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from api.models import ApiToken


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _password_change_note(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return  # a new user, or a save of other fields only (such as last_login at log-in)
    stored = sender._base_manager.filter(pk=instance.pk).values_list("password", flat=True)
    instance._password_changed = stored.first() not in (None, instance.password)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _password_change_ends_tokens(sender, instance, **kwargs) -> None:
    if getattr(instance, "_password_changed", False):
        instance._password_changed = False
        ApiToken.objects.filter(user=instance).delete()
