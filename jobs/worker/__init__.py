"""The Celery worker side of a job (Django): claim and fencing, the work dir, the handle on
the model process, the supervisor that commits or discards, heartbeats and the reconciler.

Model code never runs in these modules' process; it runs in ``jobs/runner/``.
"""

from __future__ import annotations
