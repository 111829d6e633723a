"""`python -m assistant`, and the entry script of the desktop bundle (packaging/assistant.spec).

The first lines record process start for the startup benchmark. In the bundle, the engine process is
the bundle's own executable started again by multiprocessing ('spawn'): `freeze_support()` must run
before anything else, so that such a child runs the engine and exits instead of opening a second
window; the `__main__` guard keeps the child's re-run of this script (as `__mp_main__`) inert.
"""

import time

import assistant

assistant._START = time.perf_counter()  # type: ignore[attr-defined]  # read by the window-shown probe

if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # no-op unless frozen; in a frozen engine child it never returns

    from assistant.cli.main import main

    raise SystemExit(main())
