"""The stop signal a fetch is given (jobs.assets.Stop)."""

from __future__ import annotations

import pytest

from jobs.assets import Stop, Stopped


def test_a_hook_runs_when_the_stop_is_set_inside_its_block():
    stop, calls = Stop(), []
    with stop.breaking(lambda: calls.append("cancel")):
        assert calls == []
        stop.set()
        stop.set()  # once only
    assert calls == ["cancel"]


def test_a_hook_runs_at_once_when_the_stop_was_set_before_its_block():
    stop, calls = Stop(), []
    stop.set()
    with stop.breaking(lambda: calls.append("cancel")):
        assert calls == ["cancel"]


def test_a_hook_never_runs_after_its_block():
    stop, calls = Stop(), []
    with stop.breaking(lambda: calls.append("cancel")):
        pass
    stop.set()
    assert calls == []


def test_a_failing_hook_does_not_keep_the_others_from_running():
    stop, calls = Stop(), []

    def broken():
        raise OSError("the connection is gone")

    with stop.breaking(broken), stop.breaking(lambda: calls.append("cancel")):
        stop.set()
    assert calls == ["cancel"]


def test_check_raises_stopped_naming_the_input_once_set():
    stop = Stop()
    stop.check("input 'x'")
    stop.set()
    with pytest.raises(Stopped, match="^input 'x': stopped$"):
        stop.check("input 'x'")
