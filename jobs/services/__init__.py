"""Everything that changes a job; views, tasks, the API, the CLI and MLC processes call these.

One module per concern: asset specs and their checks (``assets``), uploads (``uploads``),
runtime placement and queueing (``placement``), the job life cycle (``lifecycle``).
"""

from __future__ import annotations

from jobs.services.assets import (
    EXTERNAL_KINDS,
    FUNCTION_FOR_TYPE,
    InputSpec,
    OutputSpec,
    asset_input_build,
    asset_output_build,
)
from jobs.services.lifecycle import (
    job_cancel,
    job_claim,
    job_complete,
    job_fail,
    job_progress_save,
    job_publish_decide,
    job_rerun,
    job_submit,
)
from jobs.services.placement import (
    job_enqueue,
    job_place,
    runtime_choose,
    runtime_default,
    runtime_placement_chosen,
)
from jobs.services.uploads import upload_create, upload_reuse, upload_sweep

__all__ = [
    "EXTERNAL_KINDS",
    "FUNCTION_FOR_TYPE",
    "InputSpec",
    "OutputSpec",
    "asset_input_build",
    "asset_output_build",
    "job_cancel",
    "job_claim",
    "job_complete",
    "job_enqueue",
    "job_fail",
    "job_place",
    "job_progress_save",
    "job_publish_decide",
    "job_rerun",
    "job_submit",
    "runtime_choose",
    "runtime_default",
    "runtime_placement_chosen",
    "upload_create",
    "upload_reuse",
    "upload_sweep",
]
