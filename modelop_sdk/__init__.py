"""Our own stand-in for the parts of ModelOp's SDK package that dashboard models import
(modelop_sdk.utils.dashboard_utils). No Django, no network."""
