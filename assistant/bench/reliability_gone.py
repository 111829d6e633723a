"""Delete means gone (issue 15, item 8): after a chat or a documents folder is deleted, none of its text is
in the database file or its WAL, searched as raw bytes.

Each deleted thing carries words found nowhere else (random letters) in every place its text is kept:
the chat's title (and its title before a rename), the question, the answer as it streamed (each flush
rewrote the row), the exact prompt, attachment names, groundings (a transcript, a document passage);
a documents folder's file paths and passages. After the delete, the history's and the library's files
(the database, -wal and -shm) are read as bytes and searched for each word, whole and for its last
eight letters (FTS5 stores a term after the prefix it shares with the previous term, so a term can be
on disk without its first letters). The words of what was kept must be found the same way: the search
itself is checked each time. Also with a second process holding the history open (the window beside
`assistant ask`) and one writing into it while the delete runs; and the deleted chat's kept images
(files and thumbnails) must be gone, and their hashes from the image library's files.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from assistant.bench.reliability_apps import Home, Tally, write_corpus
from assistant.bench.reliability_figures import Figure

_LETTERS = "bcdfghjklmnpqrstvwxz"


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_LETTERS) for _ in range(12))


def _on_disk(folder: Path, stem: str) -> bytes:
    """Every byte of the database `stem` and its -wal and -shm files."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob(f"{stem}*")) if p.is_file())


def _found(raw: bytes, word: str) -> bool:
    return word.encode() in raw or word[-8:].encode() in raw


def _chat(store: object, rng: random.Random, markers: list[str], doomed: bool) -> int:
    """A chat whose every stored text holds one of `markers` (a fresh word each)."""
    from assistant.prompt.attachments import Attachment
    from assistant.prompt.grounding import Grounding

    def word() -> str:
        markers.append(_word(rng))
        return markers[-1]

    chat = store.create_conversation(f"Trip to {word()}")  # type: ignore[attr-defined]
    old_title = markers.pop()  # renamed away below: gone or not, it is no promise for a kept chat
    if doomed:
        markers.append(old_title)
    store.rename_conversation(chat, f"Holiday in {word()}")  # type: ignore[attr-defined]
    store.add_message(chat, "user", f"What does {word()} mean?",  # type: ignore[attr-defined]
                      prompt=f"[transcript] what does {word()} mean",
                      attachments=[Attachment("audio", f"{word()}.wav", f"/tmp/{word()}.wav", 100)],
                      groundings=[Grounding("audio", "recording", f"the speaker said {word()} twice")])
    answer = store.add_message(chat, "assistant", "", status="streaming")  # type: ignore[attr-defined]
    text = ""
    for _ in range(6):  # the window flushes the growing answer; each flush rewrote the row
        text += f"It means {word()}, as in the old songs. " * 3
        store.update_message(answer, text=text)  # type: ignore[attr-defined]
    store.update_message(answer, text=text + " " + "filler words for overflow pages " * 300,  # type: ignore[attr-defined]
                         status="complete")
    return chat


_HOLDER_MODES = {"writes": "write", "reads": "read"}

HOLDER = '''
import sys, time
from pathlib import Path
from assistant.history.store import Store
store = Store(Path(sys.argv[1]))
store.list_conversations()
print("open", flush=True)
if sys.argv[2] == "read":  # a long read (a search, an export) under way while the delete runs
    store.connection.execute("BEGIN")
    store.connection.execute("SELECT count(*) FROM messages").fetchone()
    print("reading", flush=True)
    time.sleep(6)  # longer than every wait of the deleting process together
    store.connection.execute("COMMIT")
    print("read", flush=True)
    sys.stdin.readline()  # the other window stays open
elif sys.argv[2] == "write":
    chat = store.create_conversation("the other window")
    for n in range(400):
        store.add_message(chat, "user", f"another process writes {n}")
        time.sleep(0.005)
else:
    sys.stdin.readline()
store.close()
'''


def history_gone(full: bool, work: Path) -> Figure:
    from assistant.history.store import Store

    rng = random.Random(8)
    tally = Tally()
    rounds = 32 if full else 4
    for run in range(rounds):
        home = Home.fresh(work / f"gone-history-{run}")
        deleted: list[str] = []
        kept: list[str] = []
        other = ("alone", "another process has it open", "another process writes",
                 "another process reads for 6 s")[run % 4]
        with Store(home.history) as store:
            doomed = [_chat(store, rng, deleted, doomed=True) for _ in range(2)]
            for _ in range(2):
                _chat(store, rng, kept, doomed=False)
            holder = None
            if other != "alone":
                holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home.history),
                                           _HOLDER_MODES.get(other.split()[2], "hold")],
                                          env=home.env(),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                assert holder.stdout is not None
                holder.stdout.readline()  # it has the file open
                if "reads" in other:
                    holder.stdout.readline()  # its read transaction is open
            for chat in doomed:
                store.delete_conversation(chat)
            if holder is not None and "reads" in other:
                holder.stdout.readline()  # its long read is over; it stays open
            # The next thing the window does anyway: save something (here a chat that is kept).
            _chat(store, rng, kept, doomed=False)
            raw = _on_disk(home.data, "history.sqlite3")  # while both are still open
            if holder is not None:
                holder.communicate("\n", timeout=120)
        tally.runs += 1
        where = f"chat deleted, {other} (run {run})"
        left = [w for w in deleted if _found(raw, w)]
        if left:
            tally.fail(where, [f"{len(left)} of {len(deleted)} deleted words still on disk, e.g. {left[0]}"])
        missing = [w for w in kept if not _found(raw, w)]
        if missing:
            tally.fail(where, [f"the search cannot find kept words ({missing[0]}): it proves nothing"])
        shutil.rmtree(home.root, ignore_errors=True)
    return tally.figure("delete a chat: none of its text left in the history's files (raw bytes)",
                        f"{rounds} rounds, 2 chats deleted of 4, ~{len(deleted)} words each round")


def documents_gone(full: bool, work: Path) -> Figure:
    from assistant.documents import library
    from assistant.documents.indexer import Indexer
    from assistant.documents.store import DocumentStore, library_path

    rng = random.Random(9)
    tally = Tally()
    rounds = 12 if full else 3
    for run in range(rounds):
        home = Home.fresh(work / f"gone-docs-{run}")
        doomed_folder, kept_folder = home.root / f"folder {_word(rng)}", home.root / f"kept {_word(rng)}"
        deleted = [*write_corpus(doomed_folder, 6, rng), doomed_folder.name.split()[-1]]
        kept = write_corpus(kept_folder, 3, rng)
        library.add_source(home.data, doomed_folder)
        library.add_source(home.data, kept_folder)
        with DocumentStore.open(home.data) as store:
            Indexer(store).run()
        reader = None
        other = ("alone", "the engine has it open", "the engine reads for 7 s")[run % 3]
        if run % 3:  # the engine process has the library open for searching meanwhile
            reader = subprocess.Popen([sys.executable, "-c", _DOC_READER, str(library_path(home.data)),
                                       "read" if "reads" in other else "open"], env=home.env(),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert reader.stdout is not None
            reader.stdout.readline()
        library.remove_source(home.data, doomed_folder)
        if reader is not None:
            if "reads" in other:
                reader.stdout.readline()  # its long read is over
            assert reader.stdin is not None
            reader.stdin.write("\n")
            reader.stdin.flush()
            reader.stdout.readline()  # its next request opened the library; the engine is still running
        raw = _on_disk(library_path(home.data).parent, library_path(home.data).name)
        if reader is not None:
            reader.communicate("\n", timeout=60)
        tally.runs += 1
        where = f"folder removed, {other} (run {run})"
        left = [w for w in deleted if _found(raw, w)]
        if left:
            tally.fail(where, [f"{len(left)} of {len(deleted)} words of the folder still on disk, "
                               f"e.g. {left[0]}"])
        if [w for w in kept if not _found(raw, w)]:
            tally.fail(where, ["the search cannot find the kept folder's words: it proves nothing"])
        shutil.rmtree(home.root, ignore_errors=True)
    return tally.figure("remove a documents folder: none of its text or paths left (raw bytes)",
                        f"{rounds} rounds")


_DOC_READER = '''
import sys, time
from pathlib import Path
from assistant.documents.store import DocumentStore
store = DocumentStore(Path(sys.argv[1]))
conn = store._conn
if sys.argv[2] == "read":  # a long read (loading every vector for a search) while the folder goes
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM chunks").fetchone()
    print("open", flush=True)
    time.sleep(7)  # longer than the remover's busy timeout
    conn.execute("COMMIT")
    print("read", flush=True)
else:
    conn.execute("SELECT count(*) FROM chunks").fetchone()
    print("open", flush=True)
sys.stdin.readline()
# The engine's next request opens the library again (a search, the next indexing run); it stays open.
DocumentStore(Path(sys.argv[1])).close()
print("again", flush=True)
sys.stdin.readline()
store.close()
'''


def images_gone(full: bool, work: Path) -> Figure:
    """A deleted chat's kept images: files, thumbnails and their hashes in the image library gone."""
    import io

    import numpy as np
    from PIL import Image

    from assistant.history.store import Store
    from assistant.images.kept import kept_path, thumbnail_path
    from assistant.library.cleanup import forget_conversation_images
    from assistant.library.image_library import ImageLibrary
    from assistant.prompt.grounding import Grounding

    rng = np.random.default_rng(5)
    tally = Tally()
    rounds = 10 if full else 3
    for run in range(rounds):
        home = Home.fresh(work / f"gone-images-{run}")
        digests: dict[int, str] = {}
        with Store(home.history) as store, ImageLibrary(home.data) as images:
            for number in range(2):
                chat = store.create_conversation(f"photos {number}")
                buffer = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(buffer, "PNG")
                digest = images.add(buffer.getvalue(), chat, 1)
                store.add_message(chat, "user", "what is this?", groundings=[
                    Grounding("image", "photo.png", "a photo", image=digest)])
                digests[chat] = digest
            doomed, keep = sorted(digests)
            shown = store.image_hashes(doomed)
            store.delete_conversation(doomed)
        forget_conversation_images(Store(home.history), home.data, doomed, shown)
        tally.runs += 1
        where = f"chat with an image deleted (run {run})"
        gone = digests[doomed]
        if kept_path(gone, home.data) is not None or thumbnail_path(gone, home.data) is not None:
            tally.fail(where, ["the kept image or its thumbnail is still there"])
        if kept_path(digests[keep], home.data) is None:
            tally.fail(where, ["the other chat's image was deleted too"])
        raw = (_on_disk(home.data / "image_library", "library.sqlite3")
               + _on_disk(home.data, "history.sqlite3"))
        if gone.encode() in raw:
            tally.fail(where, ["the deleted image's hash is still in a database file"])
        if digests[keep].encode() not in raw:
            tally.fail(where, ["the kept image's hash is not found: the search proves nothing"])
        shutil.rmtree(home.root, ignore_errors=True)
    return tally.figure("delete a chat with images: kept copies, thumbnails and hashes gone",
                        f"{rounds} rounds")


def sweeps(full: bool, work: Path) -> list[Figure]:
    work.mkdir(parents=True, exist_ok=True)
    return [history_gone(full, work), documents_gone(full, work), images_gone(full, work)]


__all__ = ["sweeps", "time"]
