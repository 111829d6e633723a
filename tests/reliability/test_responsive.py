"""Responsiveness (issue 15, item 6) with the quick counts: answers stream, the model reloads, a folder
of documents indexes and answers are stopped, all in the real window with a heartbeat on its event
loop. How long anything took is the bench's to judge (`assistant bench reliability`); here: every
phase finished, every Stop reached idle through the window's own events and kept its text, the engine
was never killed to get there, and the heartbeat saw the loop the whole time."""

from __future__ import annotations

import pytest
from model_files import smollm2_path

from assistant.bench import reliability_soak

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def responsive(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    smollm2_path()  # skips without the model package
    work = tmp_path_factory.mktemp("responsive")
    counts = reliability_soak.counts("responsive", full=False)
    result = reliability_soak.run_window("responsive", counts, work, timeout_s=1500)
    assert "crashed" not in result, result
    return result, counts


def test_every_phase_finished_without_a_failure(responsive: tuple[dict, dict]) -> None:
    result, counts = responsive
    assert result["failures"] == [], result["failures"]
    assert result["stream"]["tokens"] >= counts["tokens"]
    assert result["load"]["loads"] == counts["loads"]
    assert f"{counts['documents']} files indexed" in result["index"]["report"], result["index"]


def test_every_stop_reached_idle_and_no_engine_was_killed(responsive: tuple[dict, dict]) -> None:
    result, counts = responsive
    assert result["stop"]["stops"] == counts["stops"]  # idle seen after each Escape, text kept (failures)
    first, last = result["engine_pids"]
    assert first is not None and first == last  # the engine confirmed every Stop itself


def test_the_heartbeat_ran_through_every_phase(responsive: tuple[dict, dict]) -> None:
    result, _ = responsive
    for phase in ("stream", "load", "index", "stop"):
        assert result[phase]["stalls_ms"]["count"] > 0, phase  # measured, not skipped


def test_figures_are_built_from_a_result(responsive: tuple[dict, dict]) -> None:
    result, counts = responsive
    figures = reliability_soak.responsive_figures(result, counts)
    assert len(figures) == 6 and all(f.row().startswith("| ") for f in figures)
