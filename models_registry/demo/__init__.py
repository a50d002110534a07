"""The demo model: an iris classifier trained at set-up on the data set scikit-learn ships."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import orjson

HERE = Path(__file__).parent
SOURCE_NAME = "iris_model.py"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_frame():
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    df = data.frame.rename(
        columns={
            "sepal length (cm)": "sepal_length",
            "sepal width (cm)": "sepal_width",
            "petal length (cm)": "petal_length",
            "petal width (cm)": "petal_width",
        }
    )
    df["species"] = data.target_names[df.pop("target")]
    return df


def train_pickle() -> bytes:
    from sklearn.linear_model import LogisticRegression

    df = iris_frame()
    clf = LogisticRegression(max_iter=1000).fit(df[FEATURES], df["species"])
    return pickle.dumps(clf)


def source() -> str:
    return (HERE / SOURCE_NAME).read_text()


def schema(name: str) -> bytes:
    return (HERE / name).read_bytes()


def sample_rows(n: int | None = None, *, seed: int = 0):
    """Iris measurements as records with an id; N>150 resamples them with a little noise."""
    df = iris_frame()[FEATURES]
    if n is None:
        n = len(df)
    rng = np.random.default_rng(seed)
    picks = df.to_numpy()[rng.integers(0, len(df), size=n)] if n != len(df) else df.to_numpy()
    if n != len(df):
        picks = np.round(picks + rng.normal(0, 0.05, size=picks.shape), 2)
    for i, row in enumerate(picks):
        yield {"id": i + 1, **dict(zip(FEATURES, map(float, row), strict=True))}


def write_sample_jsonl(path: Path, n: int | None = None, *, chunk: int = 100_000) -> Path:
    """Write N sample records as JSON lines (streamed, so a million rows take little memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        batch = []
        for record in sample_rows(n):
            batch.append(orjson.dumps(record))
            if len(batch) >= chunk:
                f.write(b"\n".join(batch) + b"\n")
                batch = []
        if batch:
            f.write(b"\n".join(batch) + b"\n")
    return path


def write_sample_csv(path: Path, n: int, *, chunk: int = 500_000) -> Path:
    """Write N sample records as CSV, chunk by chunk (a 2 GB file takes little memory)."""
    import pandas as pd

    base = iris_frame()[FEATURES].to_numpy()
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            rows = base[rng.integers(0, len(base), size=size)]
            rows = np.round(rows + rng.normal(0, 0.05, size=rows.shape), 2)
            df = pd.DataFrame(rows, columns=FEATURES)
            df.insert(0, "id", np.arange(start + 1, start + size + 1))
            df.to_csv(f, header=start == 0, index=False)
    return path
