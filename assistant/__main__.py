"""`python -m assistant` — the first line records process start for the startup benchmark."""

import time

import assistant

assistant._START = time.perf_counter()  # type: ignore[attr-defined]  # read by the window-shown probe

from assistant.cli import main  # noqa: E402  (after the timestamp on purpose)

raise SystemExit(main())
