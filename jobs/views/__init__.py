"""Job pages: the jobs list and job page (pages.py) and the create-a-job wizard (wizard.py)."""

from __future__ import annotations
