"""Runs one job's model code in a child process.

The supervisor (``supervisor.py``, inside the Celery worker, uses Django) claims the job,
prepares a work dir and spawns ``python -m jobs.executor.child spec.json``. The child (no
Django: stdlib, pandas, pyarrow, orjson, fastavro) reads the inputs in chunks, calls the model
and writes the output to a staging file, reporting progress as JSON lines on its stdout. The
supervisor commits the staged output only when the child says "done".

Importing this package must not import Django: the child process imports it first.
"""

from __future__ import annotations
