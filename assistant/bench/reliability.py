"""`assistant bench reliability`: the whole reliability sweep of issue 15 as one table.

Three modules hold the sweeps, each `sweeps(full, work) -> list[Figure]`:

- `reliability_kills`: kill -9 of the window, `ask`, the engine, a save, indexing, a download, an import;
  torn writes and damaged files; two windows and a CLI on one history, export, a full disk; delete
  means gone;
- `reliability_faults`: mutated GGUF, image, audio and document files; engine crashes; hostile inputs;
- `reliability_soak`: the long soak (memory, handles, threads) and the window's responsiveness.

Quick counts by default (what tests/reliability/ runs in the normal suite), the issue's counts with
`--full`. The table says which counts were used and on what machine; the exit status is 1 when any row
has failures. Everything runs on local files, local processes and 127.0.0.1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from assistant.bench.reliability_figures import Figure

MODULES = ("reliability_kills", "reliability_faults", "reliability_soak")
HEADER = ("| sweep | runs | failures | figure |", "|---|---:|---:|---|")


def machine() -> str:
    """One line: CPU model and cores, memory, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 1024 ** 2:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def run(modules: Sequence[str], full: bool, work: Path) -> list[Figure]:
    figures: list[Figure] = []
    for name in modules:
        try:
            module = importlib.import_module(f"assistant.bench.{name}")
        except ImportError as error:  # a sibling sweep not written (or not installed) yet
            figures.append(Figure(f"{name}: not run", 0, 0, f"module missing: {error}"))
            continue
        started = time.monotonic()
        try:
            found = module.sweeps(full, work / name)
        except Exception as error:  # a sweep that breaks is itself a failure to report
            logging.getLogger(__name__).exception("%s broke", name)
            found = [Figure(f"{name}: the sweep itself broke", 1, 1, "",
                            [f"{type(error).__name__}: {error}"])]
        sys.stderr.write(f"{name}: {len(found)} rows in {time.monotonic() - started:.0f} s\n")
        figures += found
    return figures


def table(figures: Sequence[Figure], full: bool, seconds: float) -> str:
    counts = ("full counts (issue 15's)" if full
              else "quick counts (as in the normal test suite; --full for the issue's)")
    lines = [*HEADER, *(figure.row() for figure in figures), "",
             f"Counts: {counts}. Machine: {machine()}. Took {seconds / 60:.1f} min."]
    failing = [figure for figure in figures if not figure.ok]
    if failing:
        lines.append("")
        lines.append("Failures:")
        for figure in failing:
            lines += [f"- {figure.name}: {note}" for note in figure.notes]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="assistant bench reliability",
        description="kills, torn writes, mutants, engine crashes, hostile inputs, soak and stalls: one table")
    parser.add_argument("--full", action="store_true", help="the issue's counts (long: hours on 2 cores)")
    parser.add_argument("--only", action="append", choices=[m.removeprefix("reliability_") for m in MODULES],
                        help="run only this part (repeat for several)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--verbose", action="store_true", help="show the app's own warnings while it runs")
    args = parser.parse_args(argv)
    modules = [f"reliability_{name}" for name in args.only] if args.only else list(MODULES)
    work = args.work or Path(tempfile.mkdtemp(prefix="assistant-reliability-"))
    if not args.verbose:
        # Damaged files, full disks and killed engines make the app log warnings by design; the table
        # counts what matters.
        logging.getLogger("assistant").setLevel(logging.CRITICAL)
    started = time.monotonic()
    try:
        figures = run(modules, args.full, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(table(figures, args.full, time.monotonic() - started) + "\n")
    return 0 if all(figure.ok for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
