"""Failed and locked-out log-ins go into the audit trail (the user name tried, never the
password)."""

from __future__ import annotations

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from audit.context import client_ip
from audit.services import Action, audit_record


def _username(credentials: dict | None) -> str:
    return str((credentials or {}).get("username") or "")[:150]


@receiver(user_login_failed)
def login_failed(sender, credentials=None, request=None, **kwargs) -> None:
    name = _username(credentials)
    audit_record(
        action=Action.LOGIN_FAILED,
        object_type="user",
        object_id=name[:64],
        label=name,
        ip=client_ip(request) if request is not None else None,
    )


try:
    from axes.signals import user_locked_out
except ImportError:  # login rate limiting not installed
    pass
else:

    @receiver(user_locked_out)
    def login_locked(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
        name = str(username or "")[:150]
        audit_record(
            action=Action.LOGIN_LOCKED,
            object_type="user",
            object_id=name[:64],
            label=name,
            ip=ip_address,
        )
