"""The model process: everything that runs next to untrusted model code.

The supervisor (``jobs/worker/``, inside the Celery worker, uses Django) claims the job,
prepares a work dir and spawns ``python -m jobs.runner.child spec.json``. The child restricts
itself (``sandbox.py``) before it imports the model, reads the inputs in chunks, calls the
model and writes the output to a staging file, reporting progress as JSON lines on its event
channel. The supervisor commits the staged output only when the child says "done".

Nothing in this package imports Django, the database or any secret: a test checks it.
"""

from __future__ import annotations
