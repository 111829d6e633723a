"""The first-run panel's rules: which models fit this machine and which one to recommend."""

from __future__ import annotations

import dataclasses

from assistant.models.catalog import MISSING, READY, WILL_ASSEMBLE, ModelEntry
from assistant.models.fit import ModelRow, Speed, fit, reason, recommend, rows, should_measure
from assistant.models.hardware import Hardware

MACHINE = Hardware("Linux x86_64", None, 4, 2, total_ram_mb=8000, available_ram_mb=3000, free_disk_mb=9000)


def entry(name: str, size_mb: int | None, ram_mb: int | None, role: str = "chat") -> ModelEntry:
    return ModelEntry(name=name, title=name.title(), role=role, filename=f"{name}.gguf", sha256=None,
                      size=None if size_mb is None else size_mb * 1_000_000, ram_mb=ram_mb,
                      licence="Apache-2.0", source="pypi-file")


def row(name: str, size_mb: int, status: str = READY, fits: str = "fits") -> ModelRow:
    return ModelRow(name, name, size_mb, size_mb * 2, status, fits)  # type: ignore[arg-type]


def test_fit_compares_need_plus_headroom_with_free_and_total_memory() -> None:
    assert fit(2000, MACHINE) == "fits"  # 2000 + 512 <= 3000
    assert fit(2600, MACHINE) == "tight"  # not free now, but within the 8000 total
    assert fit(7600, MACHINE) == "too big"
    assert fit(None, MACHINE) == "unknown"
    no_memory_info = dataclasses.replace(MACHINE, total_ram_mb=None, available_ram_mb=None)
    assert fit(100, no_memory_info) == "unknown"


def test_rows_keep_chat_models_with_catalogue_sizes_and_statuses() -> None:
    entries = [entry("small", 98, 300), entry("whisper", 147, 350, role="stt"), entry("big", None, 1600)]
    result = rows(entries, {"small": READY}, MACHINE)
    assert [r.name for r in result] == ["small", "big"]
    small, big = result
    assert (small.size_mb, small.ram_mb, small.installed, small.fit) == (98, 300, True, "fits")
    assert (big.size_mb, big.status, big.installed) == (None, MISSING, False)
    assert big.status_text == "not installed"


def test_only_installed_models_that_may_fit_are_measured() -> None:
    assert should_measure(row("a", 100))
    assert should_measure(row("a", 100, status=WILL_ASSEMBLE, fits="tight"))
    assert not should_measure(row("a", 100, status=MISSING))
    assert not should_measure(row("a", 100, fits="too big"))


def test_recommends_the_largest_model_that_is_fast_enough() -> None:
    model_rows = [row("tiny", 98), row("base", 491), row("large", 1100)]
    speeds = {"tiny": Speed(0.1, 400, 90), "base": Speed(0.8, 90, 23), "large": Speed(2.0, 30, 6)}
    assert recommend(model_rows, speeds) == "base"
    assert "23 tokens/s" in reason("base", speeds)


def test_recommends_the_smallest_when_none_is_fast_enough_or_measured() -> None:
    model_rows = [row("base", 491), row("tiny", 98)]
    assert recommend(model_rows, {"base": Speed(1, 9, 3), "tiny": Speed(1, 20, 5)}) == "tiny"
    assert recommend(model_rows, {}) == "tiny"
    assert "not measured" in reason("tiny", {})


def test_missing_and_too_big_models_are_never_recommended() -> None:
    model_rows = [row("huge", 9000, fits="too big"), row("absent", 50, status=MISSING), row("ok", 491)]
    speeds = {"huge": Speed(1, 99, 99), "absent": Speed(1, 99, 99), "ok": Speed(1, 9, 2)}
    assert recommend(model_rows, speeds) == "ok"
    assert recommend([row("absent", 50, status=MISSING)], {}) is None
    assert "No installed chat model" in reason(None, {})


def test_a_tight_model_is_suggested_only_when_nothing_fits_free_memory() -> None:
    assert recommend([row("tight", 491, fits="tight"), row("fits", 900)], {}) == "fits"
    assert recommend([row("tight", 491, fits="tight")], {}) == "tight"


def test_usable_threshold_can_be_changed() -> None:
    model_rows = [row("tiny", 98), row("base", 491)]
    speeds = {"tiny": Speed(0.1, 400, 30), "base": Speed(0.8, 90, 12)}
    assert recommend(model_rows, speeds, usable=8) == "base"
    assert recommend(model_rows, speeds, usable=20) == "tiny"


def test_survey_lists_chat_models_and_the_bundled_ones_to_prepare(tmp_path) -> None:
    from assistant.models import catalog
    from assistant.models.fit import survey

    absent = dataclasses.replace(entry("absent", 4400, 5200), parts=(
        catalog.PartRef("absent.gguf", package="no-such-package-for-tests"),))
    voice = dataclasses.replace(entry("voice", 60, 150, role="tts"), parts=absent.parts)
    found = survey(tmp_path / "data", entries=[absent, voice], bundled=[voice])
    assert [r.name for r in found.rows] == ["absent"]  # chat models only
    assert found.rows[0].status == MISSING and not should_measure(found.rows[0])
    assert found.prepare == [] and found.missing_bundled == ["Voice"]
    assert found.machine.logical_cores
    assert not (tmp_path / "data").exists()  # looking writes nothing
