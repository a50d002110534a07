"""What a SQL asset may say: one read-only SELECT for an input, a table name for an output.

The statement check is a seat belt: it refuses, before anything runs, any statement that
would write or lock, and any call of a function that has side effects, changes the session or
runs a query text of its own (pg_terminate_backend(), set_config(), dblink(), lo_import(),
query_to_xml(), load_extension(), ...). The database is the second lock: inputs run in a
read-only transaction (SQLite: a read-only connection with query_only). The real guarantee is
a database role that may only read (README, "SQL").

The check reads the statement as sqlparse does, which is not quite as PostgreSQL does; where
the two could read the same text differently (a backslash before a quote, "# " comments,
comments inside comments, U&"…" names) the statement is refused rather than guessed at, and
function names are looked for in the raw text too, strings and comments included.
"""

from __future__ import annotations

import re

import sqlparse
from sqlparse import tokens as T
from sqlparse.exceptions import SQLParseError

# Longer than this is refused before parsing: sqlparse's time grows with the text.
QUERY_MAX_CHARS = 100_000

# Words that make a statement write, lock or change the session, wherever they appear outside
# strings and quoted names: a CTE's DELETE, SELECT … INTO, EXPLAIN ANALYZE DELETE, ...
_WRITING_TTYPES = (T.Keyword.DML, T.Keyword.DDL)
_WRITING_WORDS = {"INTO", "COPY", "GRANT", "REVOKE", "VACUUM", "CALL", "LOCK", "SET", "RESET", "DO"}
_ROW_LOCKS = {"UPDATE", "SHARE", "NO", "KEY"}  # FOR UPDATE, FOR SHARE, FOR NO KEY UPDATE, ...

# Functions an input may not call, by name, in any schema. PostgreSQL: side effects (signals,
# files, large objects, sequences, locks, replication, statistics resets), settings (set_config
# could lift the statement timeout), long waits, and functions that run a query text of their
# own (dblink, query_to_xml, ts_stat), which the check would not see. SQLite: extensions and
# files.
DENIED_FUNCTIONS = frozenset(
    """
    pg_terminate_backend pg_cancel_backend pg_reload_conf pg_rotate_logfile pg_logfile_rotate
    pg_sleep pg_sleep_for pg_sleep_until set_config nextval setval pg_stat_file pg_switch_wal
    pg_switch_xlog pg_notify txid_current pg_current_xact_id pg_export_snapshot pg_promote
    pg_start_backup pg_stop_backup pg_backup_start pg_backup_stop pg_import_system_collations
    pg_log_backend_memory_contexts pg_truncate_visibility_map pg_prewarm gin_clean_pending_list
    pg_stat_statements_reset ts_stat ts_rewrite loread lowrite
    load_extension readfile writefile edit fsdir zipfile fts3_tokenizer
    """.split()
)
DENIED_PREFIXES = (
    "dblink", "lo_", "pg_advisory_", "pg_try_advisory_", "pg_logical_", "pg_create_",
    "pg_drop_", "pg_replication_", "pg_copy_", "pg_read_", "pg_ls_", "pg_file_",
    "pg_stat_reset", "pg_wal_replay_", "pg_xlog_replay_", "binary_upgrade_", "brin_",
    "query_to_xml", "cursor_to_xml", "table_to_xml", "schema_to_xml", "database_to_xml",
)  # fmt: skip
# A denied name as a whole word, bare or quoted ("x", `x`, [x]); a "(" must follow for a call.
_DENIED_NAME = re.compile(
    r"""(?<![\w$])["`\[]?("""
    + "|".join(sorted(DENIED_FUNCTIONS, key=len, reverse=True))
    + "|"
    + "|".join(re.escape(p) + r"\w*" for p in DENIED_PREFIXES)
    + r""")["`\]]?""",
    re.IGNORECASE,
)
_UNICODE_NAME = re.compile(r"""(?<![\w$])u&["']""", re.IGNORECASE)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENTIFIER_MAX = 63  # PostgreSQL's NAMEDATALEN - 1


class StatementError(ValueError):
    """The statement or name is refused; the message says why, for a person."""


def query_clean(query: str) -> str:
    """QUERY if it is exactly one SELECT (WITH … SELECT included) that writes nothing and
    calls no denied function, without its trailing semicolon; StatementError otherwise."""
    query = (query or "").strip()
    statements = [
        s
        for s in _parse(query)
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
    tokens = list(statement.flatten())
    _check_readable(query, tokens)
    _check_words(tokens)
    _check_functions(query)
    return _without_trailing_semicolons(tokens)


def _parse(query: str) -> tuple:
    too_long = StatementError(
        f"the query is too long or too complex to check ({len(query):,} characters): "
        f"split it, or make it a view in the database and select from that"
    )
    if len(query) > QUERY_MAX_CHARS:
        raise too_long
    try:
        return sqlparse.parse(query)
    except (SQLParseError, RecursionError):  # too many tokens, or nested too deep
        raise too_long from None


def _check_readable(query: str, tokens: list) -> None:
    """Refuse what sqlparse and the database could read differently, so that nothing hides
    from the checks in what sqlparse takes for a string or a comment."""

    def refuse(what: str, token_value: str) -> StatementError:
        near = token_value if len(token_value) <= 40 else token_value[:37] + "…"
        return StatementError(f"refused before running: {what} (at {near!r})")

    if match := _UNICODE_NAME.search(query):
        raise refuse("U&… names and strings cannot be checked; write them plainly", match[0])
    for token in tokens:
        value = token.value
        if token.ttype in T.Error:
            raise refuse("a quote in the statement is not closed", value)
        if token.ttype in T.String and ("\\'" in value or '\\"' in value):
            raise refuse(
                "a backslash before a quote can end the string (or name) for the database "
                "but not for this check; write a quote in a string as '' and a backslash "
                "before a quote as chr(92)",
                value,
            )
        if token.ttype in T.Comment and value.startswith("#"):
            raise refuse(
                "'# ' starts a comment for this check but not for PostgreSQL; write the "
                "operator without a space after it",
                value,
            )
        if token.ttype in T.Comment.Multiline and "/*" in value[2:]:
            raise refuse("a comment inside a comment cannot be checked", value)


def _check_words(tokens: list) -> None:
    significant = [t for t in tokens if not t.is_whitespace and t.ttype not in T.Comment]
    for i, token in enumerate(significant):
        if token.ttype not in T.Keyword:
            continue
        word = token.normalized.upper()
        after = significant[i + 1].normalized.upper() if i + 1 < len(significant) else ""
        if word == "FOR" and after in _ROW_LOCKS:
            raise StatementError(
                "refused before running: FOR UPDATE and FOR SHARE lock the rows they read, "
                "and an input only reads"
            )
        if (token.ttype in _WRITING_TTYPES and word != "SELECT") or word in _WRITING_WORDS:
            raise StatementError(
                f"refused before running: {word} in the statement would write, lock data or "
                f"change settings, and an input is read-only (if {word.lower()} is a column, "
                f'write it in double quotes: "{word.lower()}")'
            )


def _check_functions(query: str) -> None:
    """Look for a denied function's name followed by "(" anywhere in the text: quoted or
    not, after a schema or not, in any case; in strings and comments too, to be safe."""
    for match in _DENIED_NAME.finditer(query):
        if query.startswith("(", _skip_blanks(query, match.end())):
            raise StatementError(
                f"the query calls {match[1].lower()}(), which is not allowed in an input "
                f"query: input queries may only read"
            )


def _skip_blanks(text: str, at: int) -> int:
    """The index of the first character from AT that is not white space or in a comment
    (PostgreSQL's comments nest)."""
    while at < len(text):
        if text[at].isspace():
            at += 1
        elif text.startswith("--", at):
            end = text.find("\n", at)
            at = len(text) if end < 0 else end + 1
        elif text.startswith("/*", at):
            depth, at = 1, at + 2
            while at < len(text) and depth:
                if text.startswith("/*", at):
                    depth, at = depth + 1, at + 2
                elif text.startswith("*/", at):
                    depth, at = depth - 1, at + 2
                else:
                    at += 1
        else:
            break
    return at


def _without_trailing_semicolons(tokens: list) -> str:
    # A server-side cursor wraps the query (DECLARE … FOR <query>), where ";" cannot follow.
    tokens = list(tokens)
    while tokens and (tokens[-1].is_whitespace or tokens[-1].match(T.Punctuation, ";")):
        tokens.pop()
    return "".join(t.value for t in tokens).strip()


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
