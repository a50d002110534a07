from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginRateLimitBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every log-in that comes with a request (the login page,
    the admin's, the API's token endpoint). A call without a request, such as the test
    client's login(), has no address to count against and is left to the next backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
