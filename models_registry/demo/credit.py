"""The second demo model: credit approval on synthetic loan applications, generated
deterministically at set-up, with a protected attribute ("gender") that has a mild effect on
the outcome, so every job type (scoring, metrics with fairness, training) has data to run on.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from django.core.files import File
from django.core.files.base import ContentFile

HERE = Path(__file__).parent
SOURCE_NAME = "credit_model.py"
SCHEMAS = ("credit_input_schema.avsc", "credit_output_schema.avsc")
FEATURES = ["income", "debt_ratio", "credit_history_years", "late_payments", "loan_amount"]
LABEL = "approved"
PROTECTED = "gender"


def credit_frame(n: int, *, seed: int, first_id: int = 1) -> pd.DataFrame:
    """N labeled applications; the same SEED gives the same rows."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["female", "male"], size=n)
    male = gender == "male"
    income = np.round(rng.lognormal(np.log(52) + 0.05 * male, 0.35, size=n), 1)  # k$ a year
    debt_ratio = np.round(rng.beta(2, 5, size=n), 3)
    history = rng.integers(0, 31, size=n)
    late = rng.poisson(0.8, size=n)
    loan = np.round(rng.lognormal(np.log(15), 0.5, size=n), 1)  # k$
    z = (
        0.4
        + 0.04 * (income - 52)
        - 5.0 * (debt_ratio - 0.29)
        + 0.06 * (history - 15)
        - 0.8 * (late - 0.8)
        - 0.04 * (loan - 15)
        + 0.3 * male  # the mild effect a fairness check should find
    )
    approved = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + n),
            "income": income,
            "debt_ratio": debt_ratio,
            "credit_history_years": history,
            "late_payments": late,
            "loan_amount": loan,
            PROTECTED: gender,
            LABEL: approved,
        }
    )


def train_pickle() -> bytes:
    """Version 1's model, fitted on an earlier, smaller sample than the training CSV, so a
    training job on that CSV makes a different model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = credit_frame(800, seed=1)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(df[FEATURES], df[LABEL])
    return pickle.dumps(model)


def source() -> str:
    return (HERE / SOURCE_NAME).read_text()


def schema(name: str) -> bytes:
    return (HERE / name).read_bytes()


def write_samples(folder: Path) -> tuple[Path, Path]:
    """credit_train.csv (3,000 rows) and credit_test.csv (1,000 rows) in FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    train, test = folder / "credit_train.csv", folder / "credit_test.csv"
    credit_frame(3000, seed=2).to_csv(train, index=False)
    credit_frame(1000, seed=3, first_id=3001).to_csv(test, index=False)
    return train, test


@contextmanager
def attachments(train: Path, test: Path) -> Iterator[list[File]]:
    """The demo's attachments: the trained model, its schemas and the labeled samples TRAIN
    and TEST (open while the block runs)."""
    with open(train, "rb") as train_file, open(test, "rb") as test_file:
        yield [
            ContentFile(train_pickle(), name="model.pickle"),
            *(ContentFile(schema(name), name=name) for name in SCHEMAS),
            File(train_file, name=train.name),
            File(test_file, name=test.name),
        ]
