"""Bad input, each with a message per file while the rest is indexed and nothing is lost: encrypted,
corrupt and truncated PDFs, 10,000 pages, a huge content stream, a zip-bomb DOCX, binary named .txt,
a 2 GB text file, non-UTF-8 text, an unreadable file (in a process without root's file capabilities),
link loops, pipes and devices, a file that changes or disappears while it is read, a parser that
crashed the engine, and a disk that fills up while indexing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from doc_files import fact_pdf, raw_pdf, write_docx, write_pdf
from hub_server import run_in_namespace

import assistant.documents.indexer as indexer_module
from assistant.documents import library
from assistant.documents.indexer import CRASHED, Indexer
from assistant.documents.search import search
from assistant.documents.store import DocumentStore

pytest.importorskip("reportlab")
REPO = Path(__file__).resolve().parents[2]


def index(folder: Path, data: Path) -> tuple[dict[str, str], dict[str, int], object]:
    """(skipped file name -> reason, indexed file name -> passages, report) after one run."""
    with DocumentStore.open(data) as store:
        report = Indexer(store).run(add=[str(folder)])
        files = store.files()
    skipped = {Path(p).name: reason for p, reason in report.skipped}
    indexed = {Path(f.path).name: f.chunks for f in files if f.status == "indexed"}
    return skipped, indexed, report


def good_file(folder: Path) -> None:
    (folder / "good.md").write_text("# Ledger\n\nThe Ozzelmark ledger balances at 5,120 crowns.\n")


def test_broken_pdfs_and_disguised_files_each_get_a_message_and_the_rest_is_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    good_file(folder)
    write_pdf(folder / "locked.pdf", [["The vault code is 4471."]], encrypt="hunter2")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(4000))
    whole = fact_pdf(tmp_path / "whole.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    (folder / "notapdf.pdf").write_text("just words, no PDF header")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 100)
    (folder / "latin.txt").write_bytes("Der Bäcker in Köln öffnet um 6 Uhr für Grüße.".encode("cp1252"))
    write_docx(folder / "bomb.docx", [(1, "Harmless", ["Nothing to see."])])
    with zipfile.ZipFile(folder / "bomb.docx", "a", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("word/media/bomb.bin", "w", force_zip64=True) as member:
        zeros = bytes(1 << 20)
        for _ in range(300):
            member.write(zeros)
    assert (folder / "bomb.docx").stat().st_size < 2_000_000  # 300 MB inflated, kilobytes on disk
    (folder / "empty.docx").write_bytes(b"PK\x05\x06" + bytes(18))

    skipped, indexed, _ = index(folder, tmp_path / "data")
    assert "encrypted" in skipped["locked.pdf"]
    assert "damaged" in skipped["corrupt.pdf"] or "no pages" in skipped["corrupt.pdf"]
    assert "not a PDF" in skipped["notapdf.pdf"]
    assert "binary" in skipped["binary.txt"]
    assert "zip bomb" in skipped["bomb.docx"]
    assert "not a Word document" in skipped["empty.docx"] or "damaged" in skipped["empty.docx"]
    # PDFium rebuilds what it can of a cut file; either way it is a message or a passage, never a crash.
    assert "truncated.pdf" in skipped or indexed.get("truncated.pdf", 0) >= 1
    assert indexed["good.md"] == 1 and indexed["latin.txt"] == 1
    with DocumentStore.open(tmp_path / "data") as store:
        hit = search(store, "Bäcker Köln", k=1, mode="bm25").passages[0]
        assert hit.name == "latin.txt" and "Grüße" in hit.text
        skipped_files = {Path(f.path).name: f.reason for f in store.files() if f.status == "skipped"}
    assert skipped_files["locked.pdf"] == skipped["locked.pdf"]  # the panel can show why
    again = Indexer(DocumentStore.open(tmp_path / "data")).run()
    assert again.skipped == [] and again.indexed == 0  # not retried until the file changes


# The child's own peak: VmHWM belongs to the program image, where getrusage's ru_maxrss is carried over
# from the parent (pytest with models loaded, 1.6 GB in CI) across fork and exec.
PEAK_RSS = """
def peak_rss_mb():
    status = open("/proc/self/status").read().splitlines()
    return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) >> 10
"""


def run_child(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    result = subprocess.run([sys.executable, "-c", PEAK_RSS + textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=600, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_ten_thousand_pages_and_a_huge_content_stream_stay_bounded(tmp_path: Path) -> None:
    raw_pdf(tmp_path / "many.pdf", b"BT /F1 12 Tf 72 700 Td (A page of the Ozzelmark ledger) Tj ET",
            pages=10_000)
    raw_pdf(tmp_path / "stream.pdf", b"BT /F1 12 Tf 72 700 Td " + b"(Zanderkey word) Tj 0 -1 Td " * 300_000
            + b"ET")
    out = run_child(f"""
        import json
        from pathlib import Path
        from assistant.documents.chunking import chunk_blocks
        from assistant.documents.limits import Reading
        from assistant.documents.reading import read_blocks
        result = {{}}
        for name in ("many.pdf", "stream.pdf"):
            reading = Reading("pdf")
            chunks = list(chunk_blocks(read_blocks(Path({str(tmp_path)!r}) / name, "pdf", reading)))
            peak_mb = peak_rss_mb()
            result[name] = [reading.pages, len(chunks), peak_mb]
        print(json.dumps(result))
    """)
    pages, chunks, rss_mb = out["many.pdf"]
    assert pages == 10_000 and chunks == 10_000  # every page read, one at a time
    assert rss_mb < 300, out
    assert out["stream.pdf"][0] == 1 and out["stream.pdf"][2] < 1500, out  # 8 MB of operators on one page


def test_a_2_gb_text_file_is_streamed_and_cut_with_a_note(tmp_path: Path) -> None:
    big = tmp_path / "huge.log"
    line = b"2026-01-01 pump station Quendor pressure nominal, valve seven open\n"
    with open(big, "wb") as handle:
        handle.write(line * (12_000_000 // len(line)))  # 12 MB of real lines, then a sparse hole
        handle.truncate(2 * 1024**3)
    assert big.stat().st_size == 2 * 1024**3 and big.stat().st_blocks * 512 < 64 * 1024**2
    out = run_child(f"""
        import json
        from pathlib import Path
        from assistant.documents.indexer import Indexer
        from assistant.documents.store import DocumentStore
        with DocumentStore.open(Path({str(tmp_path / "data")!r})) as store:
            events = []
            report = Indexer(store, on_file=events.append).run(add=[{str(big)!r}])
        peak_mb = peak_rss_mb()
        print(json.dumps({{"indexed": report.indexed, "rss": peak_mb, "note": events[-1].reason,
                          "chunks": events[-1].chunks}}))
    """)
    assert out["indexed"] == 1 and out["rss"] < 400, out
    assert "only the first 8 million characters were indexed" in out["note"]
    assert 7000 < out["chunks"] < 12000


def test_an_unreadable_file_is_skipped_by_a_process_without_root_file_rights(tmp_path: Path) -> None:
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode != 0:
        pytest.fail("setpriv (util-linux) is needed to drop root's file capabilities")
    folder = tmp_path / "docs"
    folder.mkdir()
    good_file(folder)
    secret = folder / "secret.txt"
    secret.write_text("nobody may read this")
    secret.chmod(0)
    code = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from assistant.documents.indexer import Indexer
        from assistant.documents.store import DocumentStore
        with DocumentStore.open(Path({str(tmp_path / "data")!r})) as store:
            report = Indexer(store).run(add=[{str(folder)!r}])
        print(json.dumps({{"indexed": report.indexed, "skipped": report.skipped}}))
    """)
    # Root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH obeys file modes like any user does.
    result = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-c",
                             code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["indexed"] == 1
    assert out["skipped"] == [[str(secret), "permission to read it was denied"]]


def test_link_loops_pipes_and_devices_are_reported_never_opened(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "deep").mkdir(parents=True)
    good_file(folder)
    (folder / "deep" / "back").symlink_to(folder)  # a link to a folder above: not followed
    (folder / "self.txt").symlink_to(folder / "self.txt")
    (folder / "a.md").symlink_to(folder / "b.md")
    (folder / "b.md").symlink_to(folder / "a.md")
    (folder / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    os.mkfifo(folder / "pipe.txt")
    os.mknod(folder / "device.md", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    skipped, indexed, _ = index(folder, tmp_path / "data")
    assert indexed == {"good.md": 1}
    assert "link loop" in skipped["self.txt"] and "link loop" in skipped["a.md"]
    assert "does not exist" in skipped["dangling.txt"]
    assert "pipe" in skipped["pipe.txt"] and "device" in skipped["device.md"]


def test_a_file_that_changes_or_disappears_while_read_keeps_nothing_and_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    moving = folder / "moving.txt"
    moving.write_text("First version of the Trellwick notes.\n\nSecond paragraph.\n")
    leaving = folder / "leaving.txt"
    leaving.write_text("The Ambergate notes will vanish.\n")
    real = indexer_module.read_blocks

    def meddling(path: Path, *args, **kwargs):
        for number, block in enumerate(real(path, *args, **kwargs)):
            if number == 0 and path.name == "moving.txt":
                with open(path, "a") as handle:
                    handle.write("Appended while it was read.\n")
            if number == 0 and path.name == "leaving.txt":
                path.unlink()
            yield block

    monkeypatch.setattr(indexer_module, "read_blocks", meddling)
    skipped, indexed, _ = index(folder, tmp_path / "data")
    assert "changed while it was read" in skipped["moving.txt"]
    assert "disappeared" in skipped["leaving.txt"]
    assert indexed == {}
    monkeypatch.setattr(indexer_module, "read_blocks", real)
    with DocumentStore.open(tmp_path / "data") as store:
        report = Indexer(store).run()
        assert report.indexed == 1 and report.skipped == []
        assert "Appended" in search(store, "Trellwick appended", k=1, mode="bm25").passages[0].text


def test_a_file_that_crashed_the_engine_twice_is_skipped_next_time(tmp_path: Path) -> None:
    """Once is not proof (the engine may have been killed from outside while it read the file: issue 15,
    tests/reliability/test_kills.py): the file is read again; a second death on it skips it."""
    folder = tmp_path / "docs"
    folder.mkdir()
    good_file(folder)
    poison = str(folder / "poison.md")
    (folder / "poison.md").write_text("# Poison\n\nThis file took the engine down twice.\n")
    data = tmp_path / "data"
    library.add_source(data, folder)
    with DocumentStore.open(data) as store:
        store.begin_reading(poison)  # what a crash mid-parse leaves behind
        report = Indexer(store).run()
        assert report.skipped == [] and report.indexed == 2  # read again, and it was fine after all
        assert store.crashed_readings() == []
        (folder / "poison.md").write_text("# Poison\n\nChanged, and this time it kills the engine.\n")
        store.begin_reading(poison)  # the first death ...
        store.retry_reading(poison)  # ... the next run marked it for its second chance ...
        store.begin_reading(poison)  # ... which began reading it again (the mark is kept) and died
        assert store.crashed_readings() == [(poison, True)]
        report = Indexer(store).run()
        reasons = {f.path: f.reason for f in store.files()}
    assert (poison, CRASHED) in report.skipped
    assert reasons[poison] == CRASHED


def test_a_full_disk_stops_indexing_and_keeps_what_was_indexed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for index_ in range(40):
        words = " ".join(f"word{index_}x{n}" for n in range(6000))
        (folder / f"note-{index_:02d}.txt").write_text(f"Note {index_} about the Pellucid archive. {words}\n")
    script = f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from assistant.documents.indexer import Indexer
        from assistant.documents.search import search
        from assistant.documents.store import DocumentStore
        data = Path({str(tmp_path / "mnt" / "data")!r})
        with DocumentStore.open(data) as store:
            report = Indexer(store).run(add=[{str(folder)!r}])
        with DocumentStore.open(data) as store:
            found = search(store, "Pellucid archive", k=3, mode="bm25").passages
            files = store.files()
        print(json.dumps({{"indexed": report.indexed, "stopped": report.stopped, "notes": report.notes,
                          "remaining": report.remaining, "found": len(found),
                          "files": sum(f.status == "indexed" for f in files)}}))
    """
    result = run_in_namespace(tmp_path, textwrap.dedent(script), tmpfs_mb=2)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["stopped"] and any("full" in note for note in out["notes"]), out
    assert 0 < out["indexed"] < 40 and out["files"] == out["indexed"] and out["found"] > 0
    assert out["remaining"] > 0
