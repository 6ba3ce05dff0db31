"""What runs inside a sandbox worker: ``worker`` (fork a child per run, supervise,
judge), ``cleanup`` (kill what a run left, empty its folders), ``harness`` (the child: confine, run the program and its tests),
``confine`` (per-run rlimits and uid). The worker gets these as source, never by
path (``isolation.view.worker_sources``); they import only the standard library,
``synthkit.sandbox.wire`` and ``synthkit.sandbox.units``.
"""
