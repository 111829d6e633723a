"""Soak and responsiveness sweeps of `assistant bench reliability` (issue 15, items 5 and 6).

- **Soak**: hundreds of questions in the real window (offscreen), mixing typed ones, spoken ones (a real
  recording played through the recorder's callback path while the mic button is held), images and
  documents attached to the composer; a new chat every few turns, as a user starts them. After every
  turn both processes are measured from /proc: RSS, open file descriptors, threads. Promise: RSS grows
  less than 5 MB per 100 turns in either process (least-squares slope after a warm-up in which the
  speech model, OCR, the classifier and the embeddings load), and no descriptors or threads leak.
- **Responsiveness**: a 10 ms heartbeat timer on the GUI thread measures how long the event loop could
  not run (a stall the user feels) while answers stream (20,000 tokens in all), while the chat model
  reloads and while a folder of documents is indexed. Promise: no stall over 100 ms. Stop → idle
  (Escape pressed mid-answer to Send enabled and no turn left) over 100 stops: p95 at most 300 ms.

Both run the window in a child interpreter (`ui/soak_window.py`): the window process is
measured alone, this process never imports Qt, and a crash of the window is a result, not the end of
the bench. The test suite runs the same code with the quick counts and asserts the non-timing
promises (every turn answered, every Stop reaching idle, nothing leaking); timings are judged here.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from assistant.bench.reliability_figures import Figure

logger = logging.getLogger(__name__)

COUNTS: dict[str, dict[str, dict[str, int]]] = {
    "soak": {"quick": {"turns": 20}, "full": {"turns": 500}},
    "responsive": {
        "quick": {"tokens": 600, "loads": 2, "documents": 6, "stops": 8},
        "full": {"tokens": 20_000, "loads": 10, "documents": 60, "stops": 100},
    },
}
RSS_SLOPE_LIMIT_MB = 5.0  # per 100 turns (the promise)
STALL_LIMIT_MS = 100.0
STOP_P95_LIMIT_MS = 300.0
LEAK_SLACK = 2  # descriptors or threads that may come and go with one turn (a transient worker)
CHILD_TIMEOUT_S = {"quick": 1800, "full": 6 * 3600}


def counts(sweep: str, full: bool) -> dict[str, int]:
    return COUNTS[sweep]["full" if full else "quick"]


def run_window(sweep: str, sweep_counts: dict[str, int], work: Path, timeout_s: float) -> dict[str, Any]:
    """Run one sweep in a child interpreter; its result, or {"crashed": ...} when the window died."""
    work.mkdir(parents=True, exist_ok=True)
    result_file = work / "result.json"
    result_file.unlink(missing_ok=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1",
           "ASSISTANT_DATA_DIR": os.environ.get("ASSISTANT_DATA_DIR", str(work / "data")),
           "ASSISTANT_CONFIG_DIR": str(work / "config")}  # fmt: skip
    command = [sys.executable, "-m", "assistant.ui.soak_window", sweep, str(work),
               json.dumps(sweep_counts)]  # fmt: skip
    try:
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as expired:
        return {"crashed": f"no result after {timeout_s:.0f} s", "log": _tail(expired.stderr)}
    if run.returncode != 0 or not result_file.exists():
        return {"crashed": f"the window process exited with {run.returncode}", "log": _tail(run.stderr)}
    result: dict[str, Any] = json.loads(result_file.read_text())
    result["log"] = _tail(run.stderr)
    return result


def _tail(text: str | bytes | None, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


# ---- the soak's figures -------------------------------------------------------------------------------


def warm_up(turns: int) -> int:
    """Turns left out of the slope: the first of each kind load a model (speech, OCR, embeddings)."""
    return max(8, turns // 5)


def slope_per_100(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (turn, MB) points, in MB per 100 turns."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return 100 * sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def growth(result: dict[str, Any], process: str) -> dict[str, float]:
    """After the warm-up: RSS slope, and how many descriptors and threads were added and stayed
    (the least of the last few samples over the most of the few at the warm-up's end)."""
    samples = [s for s in result["samples"] if s[process]]
    start = warm_up(result["turns"])
    steady = [s for s in samples if s["turn"] >= start]
    if len(steady) < 2:
        return {"rss_slope": 0.0, "fds": 0.0, "threads": 0.0, "rss_first": 0.0, "rss_last": 0.0}
    head, tail = steady[:3], steady[-3:]
    return {
        "rss_slope": slope_per_100([(s["turn"], s[process]["rss_mb"]) for s in steady]),
        "fds": min(s[process]["fds"] for s in tail) - max(s[process]["fds"] for s in head),
        "threads": min(s[process]["threads"] for s in tail) - max(s[process]["threads"] for s in head),
        "rss_first": head[0][process]["rss_mb"],
        "rss_last": tail[-1][process]["rss_mb"],
    }


def leaks(result: dict[str, Any], process: str) -> list[str]:
    """What leaked in `process` ("gui" or "engine"), in words; empty when nothing did."""
    grown = growth(result, process)
    found = []
    if grown["rss_slope"] >= RSS_SLOPE_LIMIT_MB:
        found.append(f"RSS grows {grown['rss_slope']:.1f} MB per 100 turns")
    for what in ("fds", "threads"):
        if grown[what] > LEAK_SLACK:
            found.append(f"{grown[what]:+.0f} {'file descriptors' if what == 'fds' else what} stayed open")
    return found


def soak_figures(result: dict[str, Any]) -> list[Figure]:
    turns = result.get("turns", 0)
    name = f"soak: {turns} turns mixing typed, voice, image and document questions"
    if "crashed" in result:
        return [Figure(name, turns, 1, "the window process died", [result["crashed"], result.get("log", "")])]
    restarts = max(len({s["engine_pid"] for s in result["samples"]}) - 1, 0)
    long_stalls = [stall for s in result["samples"] for stall in s.get("long_stalls", [])]
    load = max((s.get("load_average", 0.0) for s in result["samples"]), default=0.0)
    _, words = stall_words(long_stalls, load)
    figures = [Figure(name, turns, len(result["failures"]) + restarts,
                      f"engine restarts {restarts}; GUI stalls: {words}", list(result["failures"][:5]))]
    for process, title in (("gui", "window process"), ("engine", "engine process")):
        grown, found = growth(result, process), leaks(result, process)
        figures.append(Figure(
            f"soak: {title} memory, file descriptors, threads", turns, len(found),
            f"RSS {grown['rss_slope']:+.1f} MB/100 turns "
            f"({grown['rss_first']:.0f} → {grown['rss_last']:.0f} MB), "
            f"fds {grown['fds']:+.0f}, threads {grown['threads']:+.0f}",
            found,
        ))  # fmt: skip
    return figures


# ---- responsiveness figures ---------------------------------------------------------------------------


def stall_words(long_stalls: list[list[float]], load: float) -> tuple[int, str]:
    """(stalls the window caused, words): a stall counts against the window when its GUI thread was
    computing for 100 ms or more of it; the rest were waits (on a busy machine, mostly for a core)."""
    own = sum(1 for _, cpu in long_stalls if cpu >= STALL_LIMIT_MS)
    if not long_stalls:
        return 0, f"none over {STALL_LIMIT_MS:.0f} ms (load average {load:.1f})"
    wall, cpu = max(long_stalls)
    return own, (f"{len(long_stalls)} over {STALL_LIMIT_MS:.0f} ms, {own} of them computing ≥ "
                 f"{STALL_LIMIT_MS:.0f} ms; longest {wall:.0f} ms ({cpu:.0f} ms computing; "
                 f"load average {load:.1f})")


def responsive_figures(result: dict[str, Any], sweep_counts: dict[str, int]) -> list[Figure]:
    if "crashed" in result:
        return [Figure("responsiveness: the window under load", 1, 1, "the window process died",
                       [result["crashed"], result.get("log", "")])]  # fmt: skip
    def stall_row(name: str, phase: dict[str, Any], runs: int, extra: str = "") -> Figure:
        own, words = stall_words(phase["long_stalls"], phase["load_average"])
        notes = [f"{own} stalls with the GUI thread computing over {STALL_LIMIT_MS:.0f} ms"] if own else []
        return Figure(name, runs, own + len(phase["failures"]), f"{words}{extra}",
                      notes + phase["failures"][:5])

    stream, load, index, stop, paste = (result[k] for k in ("stream", "load", "index", "stop", "paste"))
    stops = stop["stop_to_idle_ms"]
    slow_stops = 1 if stops["p95"] > STOP_P95_LIMIT_MS else 0
    engines = {pid for pid in result.get("engine_pids", []) if pid is not None}
    restarted = 1 if len(engines) != 1 else 0  # no Stop, load or index may need the engine killed
    return [
        stall_row(f"GUI event loop while {stream['tokens']:,} tokens stream", stream, stream["answers"],
                  f" ({stream['answers']} answers)"),
        stall_row(f"GUI event loop while the model reloads ×{load['loads']}", load, load["loads"],
                  f"; load p95 {load['load_s']['p95']:.1f} s"),
        stall_row(f"GUI event loop while {index['documents']} documents index", index, 1,
                  f"; {index['report']}"),
        Figure(f"Stop → idle ×{sweep_counts['stops']}", sweep_counts["stops"],
               len(stop["failures"]) + slow_stops + restarted,
               f"p95 {stops['p95']:.0f} ms, max {stops['max']:.0f} ms "
               f"(promise: p95 ≤ {STOP_P95_LIMIT_MS:.0f} ms; load average {stop['load_average']:.1f})",
               stop["failures"][:5] + (["p95 over the promise"] if slow_stops else [])
               + (["the engine process changed"] if restarted else [])),
        Figure("1 MB paste, then Send (refused: too long)", 1, len(paste["failures"]),
               f"{paste['seconds']:.2f} s, longest stall {paste['stalls_ms']['max']:.0f} ms",
               paste["failures"]),
        Figure("5 KB answer rendered as Markdown", 20, 0, f"{result['render']['per_render_ms']:.1f} ms each"),
    ]


# ---- the entry the aggregator calls ---------------------------------------------------------------------


def sweeps(full: bool, work: Path) -> list[Figure]:
    """The soak and responsiveness rows of `assistant bench reliability` (quick or the issue's counts)."""
    timeout = CHILD_TIMEOUT_S["full" if full else "quick"]
    soak = run_window("soak", counts("soak", full), work / "soak", timeout)
    responsive_counts = counts("responsive", full)
    responsive = run_window("responsive", responsive_counts, work / "responsive", timeout)
    return [*soak_figures(soak), *responsive_figures(responsive, responsive_counts)]
