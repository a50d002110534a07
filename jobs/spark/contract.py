"""Which contract a model follows on Spark, read from its source without running it.

ModelOp's PySpark contract: ``train(external_inputs, external_outputs, external_model_assets)``
(and score and metrics the same): the model reads and writes with Spark itself. Anything else
is the pandas contract of every runtime: per record or batch mode, distributed by mapInPandas;
a metrics job's evaluation (the built-in evaluator, a pandas metrics function) then runs on
the driver (metrics.py).
"""

from __future__ import annotations

import ast

PYSPARK_PARAMETERS = ("external_inputs", "external_outputs", "external_model_assets")


def function_parameters(source: str, name: str) -> list[str] | None:
    """The positional parameter names of the top-level function NAME in SOURCE; None when the
    source does not parse or has no such function."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
    return None


def is_pyspark(parameters: list[str] | None) -> bool:
    """Three parameters named as ModelOp names them (a model may name them its own way only
    if it takes exactly three and the first says "input")."""
    if not parameters or len(parameters) != 3:
        return False
    return tuple(parameters) == PYSPARK_PARAMETERS or "input" in parameters[0].lower()


def spark_refusal(*, source: str, functions: dict, job_type: str, recordsets: bool) -> str | None:
    """Why a job of JOB_TYPE on this model cannot run on a Spark runtime, for a person; None
    when it can. FUNCTIONS: smart-tag kind → function name."""
    kind = {"scoring": "score", "metrics": "metrics", "training": "train"}.get(job_type, "score")
    name = functions.get(kind)
    if name and is_pyspark(function_parameters(source, name)):
        return None
    if job_type == "training":
        return (
            f"a Spark runtime trains only PySpark models: '{name or 'train'}' must take "
            "(external_inputs, external_outputs, external_model_assets) and train with Spark; a "
            "pandas training function needs all data in one process, so run it on a process "
            "runtime"
        )
    score = functions.get("score")
    parameters = function_parameters(source, score) if score else None
    if job_type == "scoring" and parameters is not None and len(parameters) == 2:
        return (
            f"score function '{score}' takes (record, slot): slots are not supported on a Spark "
            "runtime; run this model on a process runtime"
        )
    if recordsets and score:  # a metrics job's evaluator may score labeled data with it
        return (
            "recordsets mode (modelop.recordsets.0: all input as one DataFrame) cannot be "
            "distributed; use batch mode ('# moc.batch: true', one DataFrame per batch) to run on "
            "a Spark runtime, or choose a process runtime"
        )
    return None
