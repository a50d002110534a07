# modelop.schema.0: credit_input_schema.avsc
# modelop.schema.1: credit_output_schema.avsc
# moc.batch: true
"""Credit approval: the command center's second demo model, with all four functions.

A logistic regression on synthetic loan applications. "gender" is a protected attribute: the
model does not use it, and fairness metrics compare its groups. Written for ModelOp Center's
contract (smart tags, per-record score); "moc.batch" lets the command center hand score one
DataFrame per chunk instead of one record per call: the same function serves both.
"""

import pickle

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["income", "debt_ratio", "credit_history_years", "late_payments", "loan_amount"]
LABEL = "approved"
LABELS = [0, 1]


# modelop.init
def begin():
    global MODEL
    with open("model.pickle", "rb") as f:
        MODEL = pickle.load(f)


# modelop.score
def action(data):
    single = isinstance(data, dict)
    df = pd.DataFrame([data]) if single else data
    probability = MODEL.predict_proba(df[FEATURES])[:, 1]
    out = df.copy()
    out["prediction"] = (probability >= 0.5).astype(int)
    out["probability"] = probability.round(4)
    if single:
        yield out.to_dict(orient="records")[0]
    else:
        yield out


# modelop.metrics
def metrics(df):
    actual = df[LABEL].astype(int)
    probability = MODEL.predict_proba(df[FEATURES])[:, 1]
    predicted = (probability >= 0.5).astype(int)
    matrix = confusion_matrix(actual, predicted, labels=LABELS)
    fpr, tpr, _ = roc_curve(actual, probability)
    yield {
        "accuracy": round(float(accuracy_score(actual, predicted)), 4),
        "f1_score": round(float(f1_score(actual, predicted)), 4),
        "auc": round(float(roc_auc_score(actual, probability)), 4),
        "labels": LABELS,
        # one row per actual label, keyed by the predicted label
        "confusion_matrix": [
            {str(label): int(count) for label, count in zip(LABELS, row, strict=True)}
            for row in matrix
        ],
        "roc_curve": [
            {"fpr": round(float(f), 4), "tpr": round(float(t), 4)}
            for f, t in zip(fpr, tpr, strict=True)
        ],
    }


# modelop.train
def train(df):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(df[FEATURES], df[LABEL].astype(int))
    with open("outputDir/model.pickle", "wb") as f:
        pickle.dump(model, f)
