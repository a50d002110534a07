from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """{"count", "next", "previous", "results"}; ?page= and ?page_size= (at most 500)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_paginated_response_schema(self, schema: dict) -> dict:
        answer = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):  # OpenAPI 3.1: null is a type, "nullable" is gone
            answer["properties"][link].pop("nullable", None)
            answer["properties"][link]["type"] = ["string", "null"]
        answer["required"] = ["count", "next", "previous", "results"]
        return answer
