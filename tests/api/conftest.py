"""API clients of the named users (alice, bob: team alpha; charlie: an outsider) and a check
that answers match the OpenAPI schema the API serves."""

from __future__ import annotations

import functools

import pytest
from rest_framework.test import APIClient

from api.authentication import token_issue


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user).key}")
    return client


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def alice_api(alice):
    return token_client(alice)


@pytest.fixture
def bob_api(bob):
    return token_client(bob)


@pytest.fixture
def charlie_api(charlie):
    return token_client(charlie)


@pytest.fixture
def staff_api(staff):
    return token_client(staff)


@functools.cache
def _openapi():
    from drf_spectacular.generators import SchemaGenerator
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(SchemaGenerator().get_schema(request=None, public=True))


def assert_matches_schema(response) -> None:
    """RESPONSE (from the Django test client) is what the schema says the operation answers."""
    from openapi_core.testing import MockRequest, MockResponse

    request = response.wsgi_request
    _openapi().validate_response(
        MockRequest("http://testserver", request.method.lower(), request.path),
        MockResponse(
            response.content,
            status_code=response.status_code,
            content_type=response["Content-Type"].split(";")[0],
        ),
    )
