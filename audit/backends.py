from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import DEFAULT_DB_ALIAS

from commandcenter.lib.prepared import PreparedQuery
from commandcenter.lib.sessions import USER_FIELDS, preloaded_user_row


class LoginRateLimitBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every log-in that comes with a request (the login page,
    the admin's, the API's token endpoint). A call without a request, such as the test
    client's login(), has no address to count against and is left to the next backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


UserModel = get_user_model()


def _user_query(*, pk):
    return UserModel._default_manager.filter(pk=pk).values_list(*USER_FIELDS)


_user = PreparedQuery(_user_query)


class UserBackend(ModelBackend):
    """Django's ModelBackend, whose user of a session (read on every logged-in request) comes
    from a prepared query (commandcenter/lib/prepared.py): still from the database each time,
    so a password change, a deactivation or a deletion counts at once."""

    def get_user(self, user_id):
        row = preloaded_user_row(user_id)  # read with the session (commandcenter/lib/sessions)
        if row is None:
            found = _user.rows(pk=user_id)
            if not found:
                return None
            row = found[0]
        user = UserModel.from_db(DEFAULT_DB_ALIAS, USER_FIELDS, row)
        return user if self.user_can_authenticate(user) else None
