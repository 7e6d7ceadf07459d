"""The process around the CLI: what ``check`` sets before anything is imported, and how it exits.

The console script and ``python -m registry_image_resource`` call ``entry``; it imports nothing
at module level, so that its settings apply to every import that follows. ``cli.main`` stays free
of both, for callers that run commands inside a process of their own (tests, other programs).
"""

import sys


def entry() -> None:
    """Run the command in ``sys.argv`` and exit with its status.

    ``check`` (run every minute per pipeline) runs without the cyclic garbage collector, which
    would otherwise sweep the growing heap of freshly imported modules again and again during
    start-up (reference counting frees what a check discards), and leaves without the
    interpreter's teardown, which frees every module and object one by one: its answer is written
    and flushed by then, it opens no file, and its only threads are daemons (the HTTPS probe).
    ``in`` and ``out`` run and exit normally.
    """
    check = sys.argv[1:2] == ["check"]
    if check:
        import gc

        gc.disable()
    from registry_image_resource.cli import main

    code = main()
    if check:
        import os

        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    raise SystemExit(code)
