"""How tests/reliability/ runs a sweep of `assistant bench reliability`: quick counts (the issue's with
ASSISTANT_RELIABILITY_FULL=1), a skip with the reason when the sweep could not run here (CI allows
none), and a failure that lists what went wrong."""

from __future__ import annotations

import os

import pytest

from assistant.bench.reliability_figures import Figure

FULL = os.environ.get("ASSISTANT_RELIABILITY_FULL") == "1"


def check(figure: Figure) -> None:
    if figure.runs == 0 and figure.figure.startswith("not run"):
        pytest.skip(f"{figure.name}: {figure.figure}")
    assert figure.runs > 0, figure
    assert figure.failures == 0, "\n".join([figure.row(), *figure.notes])
