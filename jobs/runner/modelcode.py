"""Loading the model's source and calling its functions, the way ModelOp Center does."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.runner.errors import JobError
from jobs.runner.smarttags import SmartTags


def describe(exc: BaseException, limit: int = 500) -> str:
    """'KeyError: 'x'' — the exception as a person reads it, one line."""
    text = str(exc).strip()
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def log_traceback(exc: BaseException) -> None:
    """Print the traceback into the job log (stderr), without the executor's own frames."""
    tb = exc.__traceback__
    # The first frame is the executor's call into the model: people need only theirs.
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    sys.stderr.flush()


class ModelCode:
    def __init__(self, *, source: str, tags: SmartTags) -> None:
        self.source = source
        self.tags = tags
        self.module: Any = None

    def load(self) -> None:
        path = Path(self.source).resolve()
        module_name = path.stem
        if module_name in sys.modules:
            raise JobError(
                f"the model source is named '{path.name}', which would hide the Python module "
                f"'{module_name}'; rename the source file"
            )
        # Attachments (helper modules, pickles) sit in the work dir, which must come first.
        cwd = os.getcwd()
        if sys.path[:1] != [cwd]:
            sys.path.insert(0, cwd)
        # A .py3 source (FastScore's name) is Python too: its loader is named, as the suffix
        # is not one importlib knows.
        loader = importlib.machinery.SourceFileLoader(module_name, str(path))
        spec = importlib.util.spec_from_file_location(module_name, path, loader=loader)
        if spec is None or spec.loader is None:
            raise JobError(f"the model source '{path.name}' cannot be loaded as Python")
        module = importlib.util.module_from_spec(spec)
        # Registered before running it, as a real import does, so pickles of classes defined
        # in the source resolve to this module.
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            log_traceback(exc)
            raise JobError(
                f"the model source '{path.name}' failed to load: {describe(exc)}"
            ) from exc
        self.module = module

    def function(self, kind: str) -> Callable | None:
        name = self.tags.functions.get(kind)
        if not name:
            return None
        function = getattr(self.module, name, None)
        if not callable(function):
            raise JobError(
                f"the model source has no function '{name}' (tagged '# modelop.{kind}') "
                f"once it is loaded"
            )
        return function

    def name(self, kind: str) -> str:
        return self.tags.functions.get(kind, kind)

    def init(self, job: dict) -> None:
        init = self.function("init")
        if init is None:
            return
        try:
            if _takes_an_argument(init):
                # ModelOp monitors read json.loads(init_param["rawJson"]); others the keys.
                init({"rawJson": json.dumps(job), **job})
            else:
                init()
        except (Exception, SystemExit) as exc:
            log_traceback(exc)
            raise JobError(f"init function '{self.name('init')}' failed: {describe(exc)}") from exc


def _takes_an_argument(function: Callable) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # builtins and the like: call it bare
        return False
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    return any(p.kind in positional for p in parameters)
