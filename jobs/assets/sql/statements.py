"""What a SQL asset may say: one read-only SELECT for an input, a table name for an output.

The statement check is the first of two locks: it refuses, before anything runs, any statement
that would write. The database is the second: inputs run in a read-only transaction (SQLite:
a read-only connection with query_only), which also stops functions with side effects.
"""

from __future__ import annotations

import re

import sqlparse
from sqlparse import tokens as T

# Words that make a statement write or lock, wherever they appear outside strings and quoted
# names: a CTE's DELETE, SELECT … INTO, SELECT … FOR UPDATE, EXPLAIN ANALYZE DELETE, ...
_WRITING_TTYPES = (T.Keyword.DML, T.Keyword.DDL)
_WRITING_WORDS = {"INTO", "COPY", "GRANT", "REVOKE", "VACUUM", "CALL", "LOCK"}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER_MAX = 63  # PostgreSQL's NAMEDATALEN - 1


class StatementError(ValueError):
    """The statement or name is refused; the message says why, for a person."""


def query_clean(query: str) -> str:
    """QUERY if it is exactly one SELECT (WITH … SELECT included) that writes nothing, without
    its trailing semicolon; StatementError otherwise."""
    query = (query or "").strip()
    statements = [
        s
        for s in sqlparse.parse(query)
        if s.token_first(skip_cm=True, skip_ws=True) is not None
        and not s.token_first(skip_cm=True).match(T.Punctuation, ";")
    ]
    if not statements:
        raise StatementError("the SQL input is empty: write a SELECT statement")
    if len(statements) > 1:
        raise StatementError(
            f"refused before running: the SQL holds {len(statements)} statements; an input is "
            f"exactly one SELECT"
        )
    statement = statements[0]
    first = statement.token_first(skip_cm=True).value.split()[0].upper()
    if statement.get_type() != "SELECT":
        raise StatementError(
            f"refused before running: an input is one SELECT statement (or WITH … SELECT), "
            f"not {first}"
        )
    for token in statement.flatten():
        word = token.normalized.upper()
        if (
            token.ttype in _WRITING_TTYPES
            and word != "SELECT"
            or (token.ttype in T.Keyword and word in _WRITING_WORDS)
        ):
            raise StatementError(
                f"refused before running: {word} in the statement would write or lock data, "
                f"and an input is read-only (if {word.lower()} is a column, write it in "
                f'double quotes: "{word.lower()}")'
            )
    return _without_trailing_semicolons(query)


def _without_trailing_semicolons(query: str) -> str:
    # A server-side cursor wraps the query (DECLARE … FOR <query>), where ";" cannot follow.
    tokens = list(sqlparse.parse(query)[0].flatten())
    while tokens and (tokens[-1].is_whitespace or tokens[-1].match(T.Punctuation, ";")):
        tokens.pop()
    return "".join(t.value for t in tokens).rstrip()


def table_clean(name: str) -> tuple[str, ...]:
    """A plain or schema-qualified table name as its parts, lower-cased as PostgreSQL folds
    unquoted names: "Scores" → ("scores",), "mart.scores" → ("mart", "scores")."""
    name = (name or "").strip()
    if not name:
        raise StatementError("give the output table a name, such as scores or mart.scores")
    parts = name.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise StatementError(
            f"{name!r} is not a table name: use letters, digits and _ (not first), "
            f"optionally after a schema and a dot, such as mart.scores"
        )
    if any(len(p) > _IDENTIFIER_MAX for p in parts):
        raise StatementError(
            f"{name!r} is too long: a name has at most {_IDENTIFIER_MAX} characters"
        )
    return tuple(p.lower() for p in parts)
