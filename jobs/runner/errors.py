from __future__ import annotations


class JobError(Exception):
    """The job cannot go on; the message says, for a person, which asset or record and why."""
