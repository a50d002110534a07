# modelop.schema.0: input_schema.avsc
# modelop.schema.1: output_schema.avsc
# moc.batch: true
"""Iris species classifier: the command center's demo model.

Written for ModelOp Center's contract (smart tags, per-record score), and also declares
"moc.batch", so the command center hands it one DataFrame per chunk instead of one record
per call: the same function serves both.
"""

import pickle

import pandas as pd

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


# modelop.init
def begin():
    global MODEL
    with open("model.pickle", "rb") as f:
        MODEL = pickle.load(f)


# modelop.score
def action(data):
    single = isinstance(data, dict)
    df = pd.DataFrame([data]) if single else data
    proba = MODEL.predict_proba(df[FEATURES])
    out = df.copy()
    out["predicted_species"] = MODEL.classes_[proba.argmax(axis=1)]
    out["probability"] = proba.max(axis=1).round(4)
    if single:
        yield out.to_dict(orient="records")[0]
    else:
        yield out
