"""Soak (issue 15, item 5) with the quick count: the real window offscreen, typed, spoken, image and
document questions in turn, a new chat every eight. The bench (`assistant bench reliability --full`)
runs 500 turns and judges the RSS slope; here only what cannot be noise is asserted: every turn is
answered, the engine is never restarted, and no file descriptor or thread is left behind per turn."""

from __future__ import annotations

import pytest
from model_files import smollm2_path

from assistant.bench import reliability_soak

pytest.importorskip("faster_whisper")
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> dict:
    smollm2_path()  # skips without the model package
    work = tmp_path_factory.mktemp("soak")
    counts = reliability_soak.counts("soak", full=False)
    result = reliability_soak.run_window("soak", counts, work, timeout_s=1500)
    assert "crashed" not in result, result
    return result


def test_every_turn_of_every_kind_is_answered_by_one_engine(soak: dict) -> None:
    assert soak["failures"] == [], soak["failures"]
    kinds = [s["kind"] for s in soak["samples"]]
    assert len(kinds) == soak["turns"] and set(kinds) == {"typed", "voice", "image", "document"}
    assert len({s["engine_pid"] for s in soak["samples"]}) == 1  # never crashed, never killed


@pytest.mark.parametrize("process", ["gui", "engine"])
def test_no_file_descriptors_or_threads_are_left_behind(soak: dict, process: str) -> None:
    grown = reliability_soak.growth(soak, process)
    # A leak of one per turn would show as +(turns - warm-up); the slack is a worker that comes and goes.
    assert grown["fds"] <= reliability_soak.LEAK_SLACK, grown
    assert grown["threads"] <= reliability_soak.LEAK_SLACK, grown


def test_the_leak_measure_would_see_a_leak() -> None:
    """The measure itself can fail: a process that keeps one descriptor and 0.5 MB per turn."""
    samples = [{"turn": t, "kind": "typed", "engine_pid": 1, "max_stall_ms": 0.0,
                "gui": {"rss_mb": 200 + 0.5 * t, "fds": 40 + t, "threads": 9},
                "engine": {"rss_mb": 300.0, "fds": 20, "threads": 5}} for t in range(24)]  # fmt: skip
    leaking = {"turns": 24, "samples": samples, "failures": []}
    assert reliability_soak.leaks(leaking, "engine") == []
    found = reliability_soak.leaks(leaking, "gui")
    assert found[0].startswith("RSS grows 50.0 MB") and "file descriptors stayed open" in found[1]
    figures = reliability_soak.soak_figures(leaking)
    assert [f.failures for f in figures] == [0, 2, 0]
