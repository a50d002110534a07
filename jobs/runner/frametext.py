"""DataFrames as JSON lines and CSV text a column at a time: the text a dict per row (JSON)
and pandas' to_csv (CSV) gave, byte for byte, in a fraction of the time.

A column of numbers or booleans is encoded by one orjson call on its numpy array and split
into cells (numbers hold no comma); other columns a cell at a time. The rows are then made by
one bytes.join of the cells and the separators between them. Floats come out in their
shortest form that reads back to the same double: orjson's digits, and for CSV repr's
spelling (1e-05, 1e+16) where orjson spells them otherwise.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_NUMBERS = "iuf"  # numpy kinds orjson writes from an array as JSON numbers (and "b": booleans)
_ARRAY_DTYPES = {np.dtype(t) for t in ("int8", "int16", "int32", "int64", "uint8", "uint16",
                                       "uint32", "uint64", "float32", "float64", "bool")}  # fmt: skip


def _array_cells(values: np.ndarray) -> list[bytes]:
    """The JSON text of each item of a 1-D numpy array of numbers or booleans (NaN and
    ±infinity: null)."""
    text = orjson.dumps(np.ascontiguousarray(values), option=_NUMPY)
    return text[1:-1].split(b",") if len(values) else []


def rows_joined(columns: list[list[bytes]], separators: list[bytes], end: bytes) -> bytes:
    """Rows of cells: for each row, separators[i] + columns[i][row] for every column, then
    END. One join over a list made by slice assignments: no Python code per row."""
    rows = len(columns[0])
    step = 2 * len(columns) + 1
    items: list[bytes] = [end] * (rows * step)
    for i, (separator, cells) in enumerate(zip(separators, columns, strict=True)):
        items[2 * i :: step] = [separator] * rows
        items[2 * i + 1 :: step] = cells
    return b"".join(items)


# --- JSON lines ------------------------------------------------------------------------------


def _texts_cells(values: list[str]) -> list[bytes]:
    """The JSON text of strings without their quotes, from one orjson call: inside a JSON
    string a quote is always escaped, so '","' only ever stands between two of them."""
    return orjson.dumps(values)[2:-2].split(b'","')


def json_rows(
    frame: pd.DataFrame,
    *,
    rows: int,
    cells_of: Callable[[pd.Series], list[Any]],
    dumps: Callable[[Any], bytes],
) -> Iterator[bytes]:
    """FRAME as JSON lines, ROWS rows at a time. Numbers and booleans by one orjson call per
    column, so are columns of strings alone (their quotes go in the separators); other
    columns cell by cell, DUMPS(value) of the values CELLS_OF(series) gives (what a dict per
    row held)."""
    makers, quoted = [], []
    for i in range(frame.shape[1]):
        series = frame.iloc[:, i]
        if isinstance(series.dtype, np.dtype) and series.dtype in _ARRAY_DTYPES:
            values = series.to_numpy()
            makers.append(lambda start, stop, v=values: _array_cells(v[start:stop]))
            quoted.append(False)
            continue
        cells = cells_of(series)
        texts = set(map(type, cells)) == {str}
        makers.append(
            (lambda start, stop, c=cells: _texts_cells(c[start:stop]))
            if texts
            else (lambda start, stop, c=cells: list(map(dumps, c[start:stop])))
        )
        quoted.append(texts)
    separators, end = _json_row_parts([str(c) for c in frame.columns], quoted)
    for start in range(0, len(frame), rows):
        yield rows_joined([cells(start, start + rows) for cells in makers], separators, end)


def _json_row_parts(keys: list[str], quoted: list[bool]) -> tuple[list[bytes], bytes]:
    """What comes before each field of a JSON object with KEYS, and its end; a QUOTED
    field's quotes with them."""
    opening = [b'"' if q else b"" for q in quoted]
    closing = [b"", *opening[:-1]]
    names = [orjson.dumps(key) for key in keys]
    separators = [
        closing[i] + (b"," if i else b"{") + names[i] + b":" + opening[i] for i in range(len(keys))
    ]
    return separators, opening[-1] + b"}\n"


# --- CSV ---------------------------------------------------------------------------------------

# Cells the csv module may quote (it quotes the delimiter, the quote and the line end's
# characters; which ones varies with Python's version, so it decides for these).
_MAY_QUOTE = re.compile(r'[,"\r\n]')
# Floats whose repr orjson spells the same way: zero, and 1e-4 <= |x| < 1e16 (positional).
_POSITIONAL_MIN, _POSITIONAL_MAX = 1e-4, 1e16


def _csv_quoted(text: str) -> bytes:
    """One field as the csv module writes it in a row of several (pandas' to_csv does)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([text, ""])
    return out.getvalue()[:-2].encode()  # without the empty second field and the line end


def _csv_floats(values: np.ndarray) -> list[bytes]:
    """float64 cells as pandas writes them: repr's text (numpy's str is the same), missing
    ones empty, inf and -inf."""
    cells = _array_cells(values)
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        plain = (magnitude >= _POSITIONAL_MIN) & (magnitude < _POSITIONAL_MAX) | (values == 0)
    if not plain.all():
        for i in np.flatnonzero(~plain).tolist():
            value = float(values[i])
            cells[i] = b"" if value != value else repr(value).encode()
    return cells


def _missing(value: Any) -> bool:
    """Whether pandas' to_csv writes VALUE, a cell of an object column, as missing (empty)."""
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and value != value)
    )


def _all_text(values: list[Any]) -> bool:
    return all(isinstance(value, str) or _missing(value) for value in values)


def _csv_texts(values: list[Any]) -> list[bytes]:
    """Cells of text (or missing: empty), quoted as the csv module quotes them."""
    return [
        (_csv_quoted(value) if _MAY_QUOTE.search(value) else value.encode())
        if isinstance(value, str)
        else b""
        for value in values
    ]


def csv_columns(frame: pd.DataFrame) -> list[Callable[[int, int], list[bytes]]] | None:
    """For each column of FRAME, f(start, stop) -> the CSV text of its cells in rows
    START:STOP, as pandas' to_csv writes them; None when a column is of a kind left to pandas
    (dates, categories, float32, objects that are not all text, nullable extension types) or
    FRAME has one column (pandas quotes an empty cell alone on its row)."""
    if frame.shape[1] < 2:
        return None
    makers = []
    for i in range(frame.shape[1]):
        series = frame.iloc[:, i]
        dtype = series.dtype
        if dtype == np.float64:
            values = series.to_numpy()
            makers.append(lambda start, stop, v=values: _csv_floats(v[start:stop]))
        elif dtype == np.bool_:
            values = series.to_numpy()
            makers.append(lambda start, stop, v=values: _csv_bools(v[start:stop]))
        elif isinstance(dtype, np.dtype) and dtype.kind in "iu" and dtype in _ARRAY_DTYPES:
            values = series.to_numpy()
            makers.append(lambda start, stop, v=values: _array_cells(v[start:stop]))
        elif dtype == np.object_ or isinstance(dtype, pd.StringDtype):
            values = series.tolist()
            if not isinstance(dtype, pd.StringDtype) and not _all_text(values):
                return None
            makers.append(lambda start, stop, v=values: _csv_texts(v[start:stop]))
        else:
            return None
    return makers


def _csv_bools(values: np.ndarray) -> list[bytes]:
    if not len(values):
        return []
    text = orjson.dumps(np.ascontiguousarray(values), option=_NUMPY)
    return text[1:-1].replace(b"true", b"True").replace(b"false", b"False").split(b",")


def csv_header(names: list[str]) -> bytes:
    """The header line as pandas writes it (the csv module quoting the names)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(names)
    return out.getvalue().encode()
