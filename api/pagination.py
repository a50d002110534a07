from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


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


class BoundedCountPagination(Pagination):
    """Pagination's answer and links for a list that can hold millions of rows (jobs): a page
    is read one row past its end to know whether another follows, and "count" is counted up
    to COUNTED rows (an index scan of at most that many, not a COUNT(*) of every row);
    "count_capped" is true when there are more."""

    counted = 10_000
    max_offset = 2**53

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self.get_page_size(request)
        try:
            self.number = int(request.query_params.get(self.page_query_param, 1))
        except ValueError:
            raise NotFound("Invalid page: give a page number (1 or more).") from None
        if self.number < 1:
            raise NotFound("Invalid page: give a page number (1 or more).")
        start = (self.number - 1) * size
        if start > self.max_offset:  # beyond any list; and past what a database's OFFSET takes
            raise NotFound("Invalid page: that page contains no results.")
        rows = list(queryset[start : start + size + 1])
        if not rows and self.number > 1:
            raise NotFound("Invalid page: that page contains no results.")
        self.more = len(rows) > size
        rows = rows[:size]
        if self.number == 1 and not self.more:
            found = len(rows)  # the whole list is on this page
        else:
            found = queryset.order_by().values("pk")[: self.counted + 1].count()
        self.count_capped = found > self.counted
        self.count = min(found, self.counted)
        return rows

    def get_next_link(self):
        if not self.more:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.page_query_param, self.number + 1)

    def get_previous_link(self):
        if self.number <= 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "count": self.count,
                "count_capped": self.count_capped,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"]["description"] = (
            f"How many there are, counted up to {self.counted:,}."
        )
        answer["properties"]["count_capped"] = {
            "type": "boolean",
            "description": f"True when there are more than {self.counted:,}.",
        }
        answer["required"].append("count_capped")
        return answer
