"""Which chat model "Automatic" means before the first-run panel has measured anything, and the
rules around it: test models never offered, busy measurements marked, old settings files migrated."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from assistant.host.messages import EngineConfig
from assistant.models import catalog
from assistant.models.catalog import READY, ModelEntry
from assistant.models.fit import (
    AUTOMATIC_RAM_SHARE,
    Speed,
    automatic_chat_model,
    automatic_choice,
    reason,
    resolve_chat_model,
    rows,
)
from assistant.models.hardware import Hardware
from assistant.settings import AUTOMATIC_MODEL, Settings, load_settings

SMALL, LARGE = "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"


def bundled() -> list[ModelEntry]:
    return catalog.load_catalog()


def test_the_largest_installed_bundled_model_within_a_quarter_of_memory() -> None:
    entries = bundled()
    large = next(e for e in entries if e.name == LARGE)
    both = {SMALL: True, LARGE: True}
    assert large.ram_mb is not None
    enough = int(large.ram_mb / AUTOMATIC_RAM_SHARE) + 1
    assert automatic_choice(entries, both, total_ram_mb=enough) == LARGE
    assert automatic_choice(entries, both, total_ram_mb=enough - 2) == SMALL  # a 4-8 GB laptop
    assert automatic_choice(entries, {SMALL: True, LARGE: False}, total_ram_mb=64_000) == SMALL
    assert automatic_choice(entries, both, total_ram_mb=None) is None  # unknown memory: the fallback
    assert automatic_choice(entries, {}, total_ram_mb=64_000) is None


def test_test_models_and_downloads_are_never_the_automatic_choice() -> None:
    entries = bundled()
    everything = {e.name: True for e in entries}
    tiny_memory = 2000  # room only for SmolLM2 (300 MB), the test model
    assert automatic_choice(entries, everything, tiny_memory) is None
    hub = [e for e in entries if e.source == "hub" and e.role == "chat"]
    assert hub, "the catalogue's picks are hub downloads"
    assert automatic_choice(entries, everything, 1_000_000) == LARGE  # not a 7B pick someone downloaded


def test_automatic_resolves_to_a_catalogue_model_and_is_what_the_engine_loads(tmp_path: Path) -> None:
    assert automatic_chat_model(tmp_path, total_ram_mb=1000) == SMALL  # the catalogue's default
    chosen = automatic_chat_model(tmp_path)
    assert chosen in (SMALL, LARGE)
    assert resolve_chat_model(AUTOMATIC_MODEL, tmp_path) == chosen
    assert resolve_chat_model("my.gguf", tmp_path) == "my.gguf"
    config = EngineConfig.from_settings(Settings(), tmp_path)
    assert config.model == chosen  # the engine never sees ""
    assert Settings().model == AUTOMATIC_MODEL


def test_first_run_rows_leave_out_test_models_and_carry_the_measured_quality() -> None:
    machine = Hardware("Linux x86_64", None, 4, 2, total_ram_mb=24_000, available_ram_mb=20_000,
                       free_disk_mb=9000)
    result = {r.name: r for r in rows(bundled(), {SMALL: READY, LARGE: READY}, machine)}
    assert "smollm2-135m-instruct" not in result
    assert result[SMALL].quality and result[LARGE].quality  # measured with `assistant bench qa`


def test_a_busy_measurement_is_marked_and_the_reason_says_measure_again() -> None:
    quiet, busy = Speed(1.0, 50, 5.0, busy_share=0.05), Speed(1.0, 50, 5.0, busy_share=0.6)
    assert not quiet.busy and busy.busy and not Speed(1.0, 50, 5.0).busy  # unknown share: not busy
    assert "Measure again" in reason(SMALL, {SMALL: busy})
    assert "Measure again" not in reason(SMALL, {SMALL: quiet})


def test_settings_written_by_older_versions_become_automatic(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"model": SMALL, "temperature": 0.7, "theme": "dark"}))
    loaded = load_settings(old)
    assert (loaded.model, loaded.temperature, loaded.theme) == (AUTOMATIC_MODEL, None, "dark")
    chosen = tmp_path / "chosen.json"  # values the old version never wrote as defaults are kept
    chosen.write_text(json.dumps({"model": "my.gguf", "temperature": 0.2}))
    assert (load_settings(chosen).model, load_settings(chosen).temperature) == ("my.gguf", 0.2)
    new = tmp_path / "new.json"  # a file of this version keeps an explicit 0.5B and 0.7
    new.write_text(json.dumps(dataclasses.asdict(Settings(model=SMALL, temperature=0.7))))
    assert (load_settings(new).model, load_settings(new).temperature) == (SMALL, 0.7)


def test_sampling_settings_are_clamped_or_automatic() -> None:
    wild = Settings(temperature=9.0, top_k=-3, top_p=2.0, min_p=-1.0, repeat_penalty=0.0, seed=-5).validated()
    assert (wild.temperature, wild.top_k, wild.top_p, wild.min_p, wild.repeat_penalty, wild.seed) == \
        (2.0, 0, 1.0, 0.0, 0.5, 0)
    automatic = Settings().validated()
    assert (automatic.temperature, automatic.top_k, automatic.seed) == (None, None, None)
