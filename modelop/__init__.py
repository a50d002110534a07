"""Our own, API-compatible stand-in for ModelOp Center's monitoring helper package (which is
not published), so ModelOp's out-of-the-box monitors and customer models that import it run
unchanged. Written from the public call shapes and the documented "Monitor Output Structure";
computed with scikit-learn, scipy and the command center's own evaluator
(jobs.runner.evaluation). No Django here: it runs in the sandboxed model process.

Importing this package is cheap (the model process preloads it before its sandbox closes);
each submodule imports what it needs.
"""
