"""Torn writes: the history, the image library and settings after a crash or a power cut between any two
writes, and damaged files opened read-only with a message and a copy (issue 15, item 2).

Each workload runs the real code (`Store`, `ImageLibrary`, `save_settings`) in a child process whose
file writes are logged (`bench/write_log.py`). After every commit the child notes the logical state it
now has (outside the watched folder) and writes a mark into the watched folder, so the log says which
commit had returned before each write. The folder is then rebuilt as it would be after a crash at every
cut between two writes (and, sampled, after a power cut there) and opened with the real code again:

- it opens writable (never "damaged"), `PRAGMA integrity_check` and the full-text index's own check pass;
- its content is exactly the state after the last acknowledged commit, or after the next one (a commit
  in flight is all or nothing, an acknowledged one is never lost: `synchronous = FULL`).

The history starts from a seeded file of schema 3 with an unfinished answer, so the migration and the
marking of interrupted answers are cut as well. The damaged-file sweep corrupts the files (bits flipped
in random pages, cut short, zeroed header, garbage, a garbage WAL; settings cut, garbage, wrong types)
and requires a message, a copy, the original left as it was, and no exception other than the store's.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from assistant.bench import write_log
from assistant.bench.reliability_figures import Figure

logger = logging.getLogger(__name__)

_NOTES = 5


# -- the history ------------------------------------------------------------------------------------

HISTORY_STATE = '''
def state(conn):
    """Everything a user could see, statuses as the next opener shows them (streaming -> interrupted)."""
    if conn is None:
        return {}
    q = lambda sql: [list(r) for r in conn.execute(sql).fetchall()]
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "conversations" not in names:
        return {}
    out = {"conversations": q("SELECT id, title, created_at, updated_at FROM conversations ORDER BY id"),
           "messages": [[*r[:4], "interrupted" if r[4] == "streaming" else r[4], *r[5:]] for r in
                        q("SELECT id, conversation_id, role, text, status, timings, created_at"
                          " FROM messages ORDER BY id")]}
    if "attachments" in names:
        out["attachments"] = q("SELECT message_id, position, kind, name, path, size FROM attachments"
                               " ORDER BY id")
        out["groundings"] = q("SELECT message_id, position, kind, source, text FROM groundings ORDER BY id")
    return out
'''

HISTORY_WORKLOAD = '''
import json, sys
from pathlib import Path
from assistant.history.store import Store
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding
root, states_file, turns = Path(sys.argv[1]), open(sys.argv[2], "w"), int(sys.argv[3])
marks = open(root / "marks", "a")
step = 0
def ack(store):
    global step
    step += 1
    states_file.write(json.dumps(state(store.connection)) + "\\n"); states_file.flush()
    marks.write(f"{step}\\n"); marks.flush()
clock = iter(range(10**6, 10**7))
store = Store(root / "history.sqlite3", clock=lambda: float(next(clock)))  # migration + marking: commits
ack(store)
first = None
for turn in range(turns):
    topic = "lanterns" if turn % 2 else "harbours"
    chat = store.create_conversation(f"chat {turn} about {topic}"); ack(store)
    first = first or chat
    asked = f"question {turn}: " + "why do tides turn? " * (turn * 7 % 40)
    name = f"notes{turn}.txt"
    question = store.add_message(chat, "user", asked,
                                 attachments=[Attachment("file", name, f"/tmp/{name}", 10)],
                                 groundings=[Grounding("document", name, "tide table " * 30)])
    ack(store)
    answer = store.add_message(chat, "assistant", "", status="streaming", model="m"); ack(store)
    text = ""
    for flush in range(4):
        text += f"part {flush} of answer {turn}, " * (3 + turn % 5)
        store.update_message(answer, text=text); ack(store)
    store.update_message(answer, status="complete", timings={"tokens": turn}); ack(store)
    if turn % 3 == 2:
        store.rename_conversation(chat, f"renamed {turn}"); ack(store)
    if turn % 4 == 3:
        store.delete_conversation(first); first = None; ack(store)
store.close()
'''

SEED = '''
import sqlite3, sys
from assistant.history import schema
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
for step in schema.MIGRATIONS[:3]:
    step(conn)
conn.execute("PRAGMA user_version = 3")
for i in range(1, 9):
    conn.execute("INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                 (f"old chat {i}", i, i))
    insert = "INSERT INTO messages (conversation_id, role, text, status, created_at) VALUES (?, ?, ?, ?, ?)"
    conn.execute(insert, (i, "user", f"an old question {i} " * (i * 20), "complete", i))
    status = "streaming" if i == 8 else "complete"  # an answer a killed writer left unfinished
    conn.execute(insert, (i, "assistant", f"an old answer {i} " * (i * 30), status, i))
conn.close()
'''


def history_check(folder: Path) -> tuple[dict, list[str]]:
    """Open the history as the app does; its state and what is wrong with it."""
    from assistant.history.store import Store, StoreError

    path = folder / "history.sqlite3"
    if not path.exists():
        return {}, []
    problems: list[str] = []
    try:
        store = Store(path)
    except StoreError as error:
        return {}, [f"did not open: {error}"]
    try:
        if store.damaged:
            problems.append(f"opened as damaged: {store.damaged[:120]}")
        conn = store.connection
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            problems.append(f"integrity_check: {integrity[:3]}")
        for table in ("messages_fts", "conversations_fts"):
            try:
                conn.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")
            except sqlite3.Error as error:
                problems.append(f"{table} integrity-check: {error}")
        namespace: dict[str, Any] = {}
        exec(HISTORY_STATE, namespace)  # the same function the workload used, on this side
        found = json.loads(json.dumps(namespace["state"](conn)))
    finally:
        store.close()
    return found, problems


# -- the image library ------------------------------------------------------------------------------

LIBRARY_STATE = '''
def state(conn):
    if conn is None:
        return {}
    q = lambda sql: [list(r) for r in conn.execute(sql).fetchall()]
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "images" not in names:
        return {}
    return {"images": q("SELECT hash, file, bytes, width, height FROM images ORDER BY hash"),
            "uses": q("SELECT hash, conversation_id, message_id FROM uses ORDER BY 1, 2, 3"),
            "vectors": q("SELECT model, row, hash FROM vectors ORDER BY 1, 2")}
'''

LIBRARY_WORKLOAD = '''
import io, json, sys
from pathlib import Path
import numpy as np
from PIL import Image
from assistant.library.image_library import ImageLibrary
root, states_file, count = Path(sys.argv[1]), open(sys.argv[2], "w"), int(sys.argv[3])
marks = open(root / "marks", "a")
step = 0
def ack(library):
    global step
    step += 1
    states_file.write(json.dumps(state(library._db.conn)) + "\\n"); states_file.flush()
    marks.write(f"{step}\\n"); marks.flush()
clock = iter(range(10**6, 10**7))
library = ImageLibrary(root, clock=lambda: float(next(clock))); ack(library)
rng = np.random.default_rng(7)
for i in range(count):
    pixels = rng.integers(0, 255, (24 + i, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO(); Image.fromarray(pixels).save(buffer, "PNG")
    digest = library.add(buffer.getvalue(), conversation_id=1 + i % 3, message_id=10 + i); ack(library)
    library.set_embedding(digest, rng.normal(size=16).astype("float32"), "test-model"); ack(library)
    if i % 4 == 3:
        library.forget_conversation(1 + i % 3); ack(library)
library.close()
'''


def library_check(folder: Path) -> tuple[dict, list[str]]:
    import numpy as np

    from assistant.history.store import StoreError
    from assistant.library.image_library import ImageLibrary

    if not (folder / "image_library" / "library.sqlite3").exists():
        return {}, []
    problems: list[str] = []
    try:
        library = ImageLibrary(folder)
    except StoreError as error:
        return {}, [f"did not open: {error}"]
    try:
        conn = library._db.conn
        if getattr(library._db, "damaged", None):
            problems.append("opened as damaged")
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            problems.append(f"integrity_check: {integrity[:3]}")
        namespace: dict[str, Any] = {}
        exec(LIBRARY_STATE, namespace)
        found = json.loads(json.dumps(namespace["state"](conn)))
        for digest, file, *_ in found.get("images", []):
            if not (folder / file).is_file() or (folder / file).stat().st_size == 0:
                problems.append(f"image {digest[:8]} recorded without its kept file")
        if found.get("vectors"):
            hits = library.search_vector(np.ones(16, "float32"), k=50, model="test-model")
            known = {h for h, *_ in found["images"]}
            if any(hit.hash not in known for hit in hits):
                problems.append("search found an image the library does not hold")
    except (StoreError, sqlite3.Error, OSError, ValueError) as error:
        problems.append(f"{type(error).__name__}: {error}")
        found = {}
    finally:
        library.close()
    return found, problems


# -- settings ---------------------------------------------------------------------------------------

SETTINGS_WORKLOAD = '''
import dataclasses, json, sys
from pathlib import Path
from assistant.settings import Settings, save_settings
root, states_file, count = Path(sys.argv[1]), open(sys.argv[2], "w"), int(sys.argv[3])
marks = open(root / "marks", "a")
for i in range(count):
    settings = Settings(system_prompt="Be brief. " * (i * 37 % 300), threads=i % 8,
                        theme="dark" if i % 2 else "light", first_run_done=True)
    save_settings(settings, root / "settings.json")
    states_file.write(json.dumps(dataclasses.asdict(settings.validated())) + "\\n"); states_file.flush()
    marks.write(f"{i + 1}\\n"); marks.flush()
'''


def settings_check(folder: Path) -> tuple[dict, list[str]]:
    import dataclasses

    from assistant.settings import read_settings

    path = folder / "settings.json"
    if not path.exists():
        return {}, []
    loaded = read_settings(path)
    problems = [f"read as damaged: {loaded.problem}"] if loaded.problem else []
    return json.loads(json.dumps(dataclasses.asdict(loaded.settings))), problems


# -- running a workload under the write log ---------------------------------------------------------

def _python_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _record(library: Path, work: Path, name: str, script: str, seed: str | None, arg: int
            ) -> tuple[Path, list[write_log.Op], list[dict]]:
    """Runs `script` under the write log in a fresh folder; returns the folder as it was before, the
    log, and the states after each acknowledged commit (index 0: before the first)."""
    base = work / name
    shutil.rmtree(base, ignore_errors=True)
    watched, before = base / "watched", base / "before"
    watched.mkdir(parents=True)
    if seed is not None:
        subprocess.run([sys.executable, "-c", seed, str(watched / "history.sqlite3")], check=True,
                       env=_python_env(), timeout=120)
        for extra in ("-wal", "-shm"):
            Path(f"{watched / 'history.sqlite3'}{extra}").unlink(missing_ok=True)
    shutil.copytree(watched, before)
    states_path, log = base / "states.jsonl", base / "writes.log"
    env = _python_env() | write_log.environment(library, watched, log)
    done = subprocess.run([sys.executable, "-c", script, str(watched), str(states_path), str(arg)],
                          env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the {name} workload failed: {done.stderr[-3000:]}")
    states = [json.loads(line) for line in states_path.read_text(encoding="utf-8").splitlines()]
    return before, write_log.read_log(log, watched), states


def _acknowledged(ops: list[write_log.Op]) -> list[int]:
    """For each cut k (0..len(ops)), the number of commits the workload had acknowledged before it."""
    counts, seen = [0], 0
    for op in ops:
        if op.kind == write_log.WRITE and op.path == "marks":
            seen = int(op.data.decode().strip().splitlines()[-1])
        counts.append(seen)
    return counts


def _sweep(name: str, figure_name: str, work: Path, library: Path, script: str, seed: str | None,
           arg: int, check: Any, initial: dict, crash_cuts: int | None, power_cuts: int,
           state_source: str) -> Figure:
    namespace: dict[str, Any] = {}
    exec(state_source, namespace)
    before, ops, states = _record(library, work, name, namespace_script(state_source, script), seed, arg)
    if seed is not None:  # the state before the first commit: the seeded file as the app shows it
        shutil.copytree(before, work / name / "seeded")
        initial, _ = check(work / name / "seeded")
    states = [initial, *states]
    acked = _acknowledged(ops)
    writes = [i + 1 for i, op in enumerate(ops) if op.kind != write_log.SYNC and op.path != "marks"]
    points = sorted({0, *writes})
    crash_points = _spread(points, crash_cuts)
    failures: list[str] = []
    runs = 0
    into = work / name / "cut"
    for point, folder in write_log.crash_states(before, ops, crash_points, into):
        runs += 1
        failures += _judge(check, folder, states, acked[point], f"crash after write {point}")
    rng = random.Random(15)
    for point in _spread(points, power_cuts, shuffle=rng):
        runs += 1
        folder = write_log.replay(before, ops, point, into, power_cut=True, rng=random.Random(point))
        failures += _judge(check, folder, states, acked[point], f"power cut after write {point}")
    shutil.rmtree(work / name, ignore_errors=True)
    commits = len(states) - 1
    return Figure(figure_name, runs, len(failures),
                  f"{len(writes)} writes, {commits} commits; {len(crash_points)} crash + "
                  f"{runs - len(crash_points)} power cuts", failures[:_NOTES])


def namespace_script(state_source: str, script: str) -> str:
    return textwrap.dedent(state_source) + textwrap.dedent(script)


def _judge(check: Any, folder: Path, states: list[dict], acked: int, where: str) -> list[str]:
    try:
        found, problems = check(folder)
    except Exception as error:
        return [f"{where}: {type(error).__name__}: {error}"]
    allowed = states[acked:acked + 2]
    if found not in allowed:
        problems.append(f"content is neither commit {acked} nor {acked + 1}: "
                        f"{_difference(found, allowed[0])}")
    return [f"{where}: {problem}" for problem in problems]


def _difference(found: dict, expected: dict) -> str:
    for key in sorted(set(found) | set(expected)):
        a, b = found.get(key), expected.get(key)
        if a != b:
            return f"{key}: {len(a or [])} rows found, {len(b or [])} expected"
    return "?"


def _spread(points: list[int], limit: int | None, shuffle: random.Random | None = None) -> list[int]:
    if limit is None or len(points) <= limit:
        chosen = list(points)
    elif limit <= 0:
        chosen = []
    else:
        step = len(points) / limit
        chosen = sorted({points[int(i * step)] for i in range(limit)})
    if shuffle is not None:
        shuffle.shuffle(chosen)
    return chosen


def history_torn(full: bool, work: Path, library: Path) -> Figure:
    return _sweep("history", "torn writes: the history (crash / power cut between any two writes)", work,
                  library, HISTORY_WORKLOAD, SEED, 8 if full else 4, history_check, {},
                  None if full else 60, 150 if full else 20, HISTORY_STATE)


def library_torn(full: bool, work: Path, library: Path) -> Figure:
    return _sweep("library", "torn writes: the image library (rows, kept images, vectors)", work, library,
                  LIBRARY_WORKLOAD, None, 8 if full else 4, library_check, {}, None if full else 40,
                  100 if full else 15, LIBRARY_STATE)


def settings_torn(full: bool, work: Path, library: Path) -> Figure:
    return _sweep("settings", "torn writes: settings.json", work, library, SETTINGS_WORKLOAD, None,
                  10 if full else 4, settings_check, {}, None, 60 if full else 10, "")


# -- damaged files ----------------------------------------------------------------------------------

_DAMAGE_KINDS = ("break page headers", "zero the header", "cut the file short", "garbage file",
                 "flip bytes anywhere", "garbage WAL beside it", "flip bytes in the WAL")


def _damage(path: Path, kind: str, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    if kind == "break page headers":  # b-tree page headers and cell pointers: what quick_check reads
        for _ in range(rng.randint(1, 3)):
            start = page * rng.randrange(1, max(2, len(data) // page))
            for offset in range(start, min(len(data), start + 12)):
                data[offset] ^= rng.randint(1, 255)
    elif kind == "flip bytes anywhere":  # inside text too, which no check can tell from a real edit
        for _ in range(rng.randint(1, 3)):
            start = rng.randrange(page, max(page + 1, len(data) - 64))  # page 1 is the header's
            for offset in range(start, min(len(data), start + rng.randint(1, 64))):
                data[offset] ^= rng.randint(1, 255)
    elif kind == "zero the header":
        data[:100] = bytes(100)
    elif kind == "cut the file short":
        del data[rng.randrange(page, max(page + 1, len(data) - 1)):]
    elif kind == "garbage file":
        data = bytearray(rng.randbytes(len(data)))
    path.write_bytes(bytes(data))


def _damage_wal(path: Path, kind: str, rng: random.Random, good_wal: bytes) -> None:
    wal = Path(f"{path}-wal")
    if kind == "garbage WAL beside it":
        wal.write_bytes(rng.randbytes(rng.choice((32, 4096 + 24, 40000))))
    elif kind == "flip bytes in the WAL" and good_wal:
        data = bytearray(good_wal)
        start = rng.randrange(32, len(data))
        for offset in range(start, min(len(data), start + rng.randint(1, 16))):
            data[offset] ^= rng.randint(1, 255)
        wal.write_bytes(bytes(data))


def _make_history(path: Path) -> bytes:
    """A closed history of 40 chats (long answers on overflow pages), and the WAL of one more commit."""
    from assistant.history.store import Store

    with Store(path) as store:
        for i in range(40):
            chat = store.create_conversation(f"chat {i}")
            store.add_message(chat, "user", f"question {i} " * 20)
            store.add_message(chat, "assistant", f"answer {i} " * (50 + i * 40))
    # One more commit left in a WAL (as after a crash), for the WAL damage kinds.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("UPDATE conversations SET title = 'renamed' WHERE id = 1")
    conn.commit()
    wal = Path(f"{path}-wal").read_bytes()
    conn.close()  # checkpoints and removes the WAL
    return wal


def history_damaged(full: bool, work: Path) -> Figure:
    """Damaged history files: a message, a copy, the original untouched, only StoreError ever raised."""
    from assistant.history.store import Store, StoreError

    base = work / "damaged-history"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    pristine = base / "pristine.sqlite3"
    good_wal = _make_history(pristine)
    rng = random.Random(1515)
    cases = 120 if full else 18
    failures: list[str] = []
    outcomes = {"opened read-only": 0, "not readable": 0, "sound, opened": 0}
    for case in range(cases):
        kind = _DAMAGE_KINDS[case % len(_DAMAGE_KINDS)]
        folder = base / f"case{case}"
        folder.mkdir()
        path = folder / "history.sqlite3"
        shutil.copy(pristine, path)
        if "WAL" in kind:
            _damage_wal(path, kind, rng, good_wal)
        else:
            _damage(path, kind, rng)
        damaged_bytes = path.read_bytes()
        where = f"{kind} (case {case})"
        try:
            store = Store(path)
        except StoreError as error:
            outcomes["not readable"] += 1
            failures += _copy_kept(folder, path, damaged_bytes, str(error), where)
            shutil.rmtree(folder)
            continue
        except Exception as error:
            failures.append(f"{where}: {type(error).__name__}: {error}")
            shutil.rmtree(folder)
            continue
        try:
            if store.damaged is None:
                outcomes["sound, opened"] += 1
                integrity = store.connection.execute("PRAGMA integrity_check").fetchall()
                if integrity != [("ok",)]:
                    failures.append(f"{where}: opened as sound but integrity_check says {integrity[:2]}")
                continue
            outcomes["opened read-only"] += 1
            for chat in _safely(store.list_conversations) or []:
                _safely(lambda chat=chat, store=store: store.messages(chat.id))
            try:
                store.create_conversation("after the damage")
                failures.append(f"{where}: a write into the damaged file succeeded")
            except StoreError as error:
                if "damaged" not in str(error):
                    failures.append(f"{where}: the write was refused without saying why: {error}")
            except Exception as error:
                failures.append(f"{where}: a write raised {type(error).__name__}: {error}")
        except _Unexpected as error:
            failures.append(f"{where}: {error}")
        finally:
            store.close()
        if store.damaged is not None:
            failures += _copy_kept(folder, path, damaged_bytes, store.damaged, where)
        shutil.rmtree(folder)
    shutil.rmtree(base, ignore_errors=True)
    summary = ", ".join(f"{n} {what}" for what, n in outcomes.items())
    return Figure("damaged history file: message + copy, never a crash or a reset", cases, len(failures),
                  summary, failures[:_NOTES])


class _Unexpected(Exception):
    pass


def _safely(call: Any) -> Any:
    """Reading a damaged file may fail with StoreError (shown to the user); anything else is a crash."""
    from assistant.history.store import StoreError

    try:
        return call()
    except StoreError:
        return None
    except Exception as error:
        raise _Unexpected(f"reading raised {type(error).__name__}: {error}") from error


def _copy_kept(folder: Path, path: Path, damaged_bytes: bytes, message: str, where: str) -> list[str]:
    problems = []
    copies = [p for p in folder.iterdir() if ".damaged-" in p.name and not p.name.endswith("-wal")]
    if len(copies) != 1 or copies[0].read_bytes() != damaged_bytes:
        problems.append(f"{where}: no exact copy of the damaged file was kept ({[p.name for p in copies]})")
    elif copies[0].name not in message:
        problems.append(f"{where}: the message does not say where the copy is: {message[:100]}")
    if path.read_bytes() != damaged_bytes:
        problems.append(f"{where}: the damaged file was changed (reset or written into)")
    return problems


def library_damaged(full: bool, work: Path) -> Figure:
    """The image library's database damaged the same ways: read-only with a message and a copy."""
    import numpy as np

    from assistant.history.store import StoreError
    from assistant.library.image_library import ImageLibrary

    base = work / "damaged-library"
    shutil.rmtree(base, ignore_errors=True)
    pristine = base / "pristine"
    rng_np = np.random.default_rng(3)
    with ImageLibrary(pristine) as library:
        from PIL import Image

        for i in range(30):
            buffer = _png(Image, rng_np.integers(0, 255, (20, 20 + i, 3), dtype=np.uint8))
            digest = library.add(buffer, 1 + i % 4, 100 + i)
            library.set_embedding(digest, rng_np.normal(size=16).astype("float32"), "test-model")
    db = Path("image_library") / "library.sqlite3"
    rng = random.Random(99)
    cases = 60 if full else 10
    failures: list[str] = []
    read_only = 0
    for case in range(cases):
        kind = _DAMAGE_KINDS[case % 5]  # the file itself (the WAL kinds are the history's)
        folder = base / f"case{case}"
        shutil.copytree(pristine, folder)
        path = folder / db
        _damage(path, kind, rng)
        damaged_bytes = path.read_bytes()
        where = f"{kind} (case {case})"
        try:
            with ImageLibrary(folder) as opened:
                if opened._db.damaged is None:
                    integrity = opened._db.conn.execute("PRAGMA integrity_check").fetchall()
                    if integrity != [("ok",)]:
                        failures.append(f"{where}: opened as sound, integrity_check says {integrity[:2]}")
                    continue
                read_only += 1
                message = opened._db.damaged
                query = np.ones(16, "float32")
                _safely(lambda opened=opened, query=query: opened.search_vector(query, model="test-model"))
                try:
                    opened.forget_conversation(1)
                    failures.append(f"{where}: a write into the damaged file succeeded")
                except StoreError as error:
                    if "damaged" not in str(error):
                        failures.append(f"{where}: the write was refused without saying why: {error}")
            failures += _copy_kept(path.parent, path, damaged_bytes, message, where)
        except StoreError as error:
            failures += _copy_kept(path.parent, path, damaged_bytes, str(error), where)
        except Exception as error:
            failures.append(f"{where}: {type(error).__name__}: {error}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    return Figure("damaged image library file: message + copy, never a crash or a reset", cases,
                  len(failures), f"{read_only} opened read-only", failures[:_NOTES])


def _png(image_module: Any, pixels: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    image_module.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


_SETTINGS_DAMAGE = ("cut short", "garbage bytes", "one value of the wrong type", "a JSON list", "empty file",
                    "not UTF-8", "flip a byte")


def settings_damaged(full: bool, work: Path) -> Figure:
    """A damaged settings.json: never an exception, a message and a copy, the good values kept."""
    import dataclasses

    from assistant.settings import Settings, read_settings, save_settings

    base = work / "damaged-settings"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    mine = Settings(system_prompt="Answer like a pirate.", threads=3, theme="dark", first_run_done=True,
                    context_size=8192)
    rng = random.Random(7)
    cases = 70 if full else 14
    failures: list[str] = []
    for case in range(cases):
        kind = _SETTINGS_DAMAGE[case % len(_SETTINGS_DAMAGE)]
        folder = base / f"case{case}"
        path = folder / "settings.json"
        save_settings(mine, path)
        text = path.read_text(encoding="utf-8")
        if kind == "cut short":
            data = text.encode()[: rng.randrange(1, len(text) - 2)]
        elif kind == "garbage bytes":
            data = rng.randbytes(rng.randint(1, 400))
        elif kind == "one value of the wrong type":
            raw = json.loads(text)
            raw[rng.choice(["threads", "context_size", "max_answer_tokens", "gpu_layers"])] = "lots"
            data = json.dumps(raw).encode()
        elif kind == "a JSON list":
            data = b"[1, 2, 3]"
        elif kind == "empty file":
            data = b""
        elif kind == "not UTF-8":
            data = text.encode("utf-16")
        else:
            raw_bytes = bytearray(text.encode())
            raw_bytes[rng.randrange(len(raw_bytes))] = rng.choice(b"{}[]:,\"")
            data = bytes(raw_bytes)
        path.write_bytes(data)
        where = f"{kind} (case {case})"
        try:
            loaded = read_settings(path)
        except Exception as error:
            failures.append(f"{where}: {type(error).__name__}: {error}")
            continue
        if loaded.problem is None:
            try:  # only a file that still is a valid settings object may load without a word
                Settings(**{k: v for k, v in json.loads(data).items() if k in
                            {f.name for f in dataclasses.fields(Settings)}}).validated()
            except Exception:
                failures.append(f"{where}: a damaged file loaded without a message")
        else:
            if loaded.backup is None or loaded.backup.read_bytes() != data:
                failures.append(f"{where}: no exact copy of the damaged file")
            if path.read_bytes() != data:
                failures.append(f"{where}: the damaged file was changed")
            if not loaded.settings.first_run_done:
                failures.append(f"{where}: the first-run panel would open again")
            if kind == "one value of the wrong type" and (
                    loaded.settings.system_prompt != mine.system_prompt or loaded.settings.theme != "dark"):
                failures.append(f"{where}: the valid values were reset with the wrong one")
    shutil.rmtree(base, ignore_errors=True)
    return Figure("damaged settings file: message + copy, good values kept", cases, len(failures), "",
                  failures[:_NOTES])


def sweeps(full: bool, work: Path) -> list[Figure]:
    """The torn-write and damaged-file rows of `assistant bench reliability`."""
    work.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    library = write_log.build_library(work / "write-log")
    if library is None:
        figures.append(Figure("torn writes (history, image library, settings)", 0, 0,
                              "not run: needs Linux and a C compiler (cc) for the write log"))
    else:
        figures += [history_torn(full, work, library), library_torn(full, work, library),
                    settings_torn(full, work, library)]
    figures += [history_damaged(full, work), library_damaged(full, work), settings_damaged(full, work)]
    return figures
