"""Bringing the library up to date with the disk, file by file, so that it can stop between any two.

`Indexer.run` adds and removes sources, walks each source (`sources.walk`, stat only), and compares
what it finds with what the library remembers:

- same size and mtime: unchanged, never opened;
- size or mtime moved: the content is hashed; the same hash is unchanged too (a `touch`, a copy back);
- otherwise the file is parsed (`reading.read_blocks`), cut into passages (`chunking`) and its passages
  replaced in one transaction; then they are embedded, a batch at a time;
- gone from the disk: its passages and vectors are erased.

A file that cannot be read is recorded as skipped with the reason (and not retried until it changes);
a file that changes or disappears while it is read keeps nothing of this reading and is read again
next time. Before a file is parsed its path is committed to the `reading` table: should a parser crash
the whole engine process on it, the next run finds the path there and skips the file with a message
instead of crashing again. A full disk stops the run: the file being written is rolled back, everything
before it stays.

`should_stop` is asked between files and between embedding batches (Cancel, Pause, or a question
waiting in the engine); what is not reached is counted in `remaining` and done by the next run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.documents import library
from assistant.documents.chunking import chunk_blocks
from assistant.documents.errors import DiskFull, FileChanged, SourceRefused, UnreadableDocument
from assistant.documents.limits import Limits, PageReader, Reading
from assistant.documents.reading import read_blocks
from assistant.documents.sources import FoundFile, PassedOver, walk
from assistant.documents.store import ChunkRow, DocumentStore, FileRow
from assistant.documents.types import FileEvent
from assistant.protocols import TextEmbedder

logger = logging.getLogger(__name__)

EMBED_BATCH = 32
CRASHED = "reading it stopped the engine process twice (a damaged file?); it was not indexed"


@dataclass
class IndexReport:
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    remaining: int = 0
    embedded: int = 0
    stopped: bool = False
    notes: list[str] = field(default_factory=list)


def embedding_text(text: str, heading: str) -> str:
    """What the embedding model reads for a passage: its heading path first, as context."""
    return f"{heading}\n{text}" if heading else text


@dataclass
class Indexer:
    store: DocumentStore
    on_file: Callable[[FileEvent], None] = lambda event: None
    on_progress: Callable[[int, int, str], None] = lambda done, total, message: None
    should_stop: Callable[[], bool] = lambda: False
    embedder: Callable[[], TextEmbedder | None] = lambda: None  # loaded on first need; None: BM25 only
    page_reader: PageReader | None = None
    limits: Limits = field(default_factory=Limits)
    reads: int = 0  # files parsed (tests count them: unchanged files are never read)

    def run(self, add: Sequence[str] = (), remove: Sequence[str] = (), scan: bool = True) -> IndexReport:
        report = IndexReport()
        for path in remove:
            if library.remove_from(self.store, path):
                report.removed += 1
                self.on_file(FileEvent(path, "removed"))
        for path in add:
            try:
                library.add_to(self.store, path)
            except SourceRefused as error:
                report.skipped.append((str(path), str(error)))
                self.on_file(FileEvent(str(path), "skipped", str(error)))
        for path, retried in self.store.crashed_readings():
            # Once is not proof: the engine may have been killed (kill -9, the window killed, a power
            # cut) while this file was read. It is read again; only a second death on it skips it.
            if retried:
                self._record_crash(path, report)
            else:
                self.store.retry_reading(path)
        if not scan:
            return report
        try:
            self._scan(report)
            if not report.stopped:
                self._embed_missing(report)
        except DiskFull as error:
            report.notes.append(str(error))
            report.stopped = True
        return report

    # ---- scanning ----------------------------------------------------------------------------------

    def _scan(self, report: IndexReport) -> None:
        work: list[tuple[int, FoundFile, FileRow | None]] = []
        total = 0
        for source in self.store.sources():
            known = self.store.file_rows(source.source_id)
            seen: set[str] = set()
            for item in walk(source.path, source.is_folder):
                seen.add(item.path)
                total += 1
                row = known.get(item.path)
                if isinstance(item, PassedOver):
                    self._passed_over(source.source_id, item, row, report)
                elif row is not None and row.size == item.size and row.mtime_ns == item.mtime_ns:
                    report.unchanged += 1
                else:
                    work.append((source.source_id, item, row))
            gone = [row for path, row in known.items() if path not in seen]
            if gone:
                self.store.forget_files([row.file_id for row in gone])
                for row in gone:
                    report.removed += 1
                    self.on_file(FileEvent(row.path, "removed"))
            self.store.set_scanned(source.source_id)
        done = total - len(work)
        self.on_progress(done, total, f"{done} of {total} files up to date")
        for position, (source_id, found, row) in enumerate(work):
            if self.should_stop():
                report.remaining = len(work) - position
                report.stopped = True
                return
            self._index_file(source_id, found, row, report, done + position + 1, total)

    def _passed_over(self, source_id: int, item: PassedOver, row: FileRow | None, report: IndexReport
                     ) -> None:
        if row is not None and row.status == "skipped":
            report.unchanged += 1  # already reported when it was first found
            return
        report.skipped.append((item.path, item.reason))
        self.on_file(FileEvent(item.path, "skipped", item.reason))
        self.store.write_skipped(source_id, item.path, size=0, mtime_ns=0, sha256="",
                                 kind=item.kind or "other", reason=item.reason)

    def _record_crash(self, path: str, report: IndexReport) -> None:
        self.store.end_reading(path)
        owner = next((s for s in self.store.sources()
                      if s.path == path or (s.is_folder and Path(path).is_relative_to(s.path))), None)
        report.skipped.append((path, CRASHED))
        self.on_file(FileEvent(path, "skipped", CRASHED))
        if owner is None:
            return
        try:
            info = os.stat(path)
            size, mtime = info.st_size, info.st_mtime_ns
        except OSError:
            size, mtime = 0, 0
        self.store.write_skipped(owner.source_id, path, size=size, mtime_ns=mtime, sha256="",
                                 kind="other", reason=CRASHED)

    # ---- one file ----------------------------------------------------------------------------------

    def _index_file(self, source_id: int, found: FoundFile, row: FileRow | None, report: IndexReport,
                    done: int, total: int) -> None:
        path = found.path
        self.on_progress(done - 1, total, f"Reading {Path(path).name}")
        try:
            sha = file_sha256(path)
            if row is not None and row.sha256 == sha:  # touched, copied back: the same bytes
                self.store.touch_file(row.file_id, found.size, found.mtime_ns)
                report.unchanged += 1
                return
            reading = Reading(found.kind)
            chunks = self._read(found, reading)
            count = self.store.write_file(source_id, path, size=found.size, mtime_ns=found.mtime_ns,
                                          sha256=sha, kind=found.kind, chunks=chunks, pages=reading.pages)
        except UnreadableDocument as error:
            changed = isinstance(error, FileChanged)  # not recorded: read again next time
            self._skip(source_id, found, str(error), report, done, total, record=not changed)
            return
        except FileNotFoundError:
            self._skip(source_id, found, "it disappeared while it was read; it will be read again if it "
                       "comes back", report, done, total, record=False)
            return
        except DiskFull as error:
            report.skipped.append((path, str(error)))
            self.on_file(FileEvent(path, "skipped", str(error), done=done, total=total))
            report.remaining = total - done
            raise
        except OSError as error:
            reason = "permission to read it was denied" if isinstance(error, PermissionError) \
                else f"it cannot be read ({error.strerror or error})"
            self._skip(source_id, found, reason, report, done, total, record=True)
            return
        report.indexed += 1
        note = "; ".join(reading.notes)
        self.on_file(FileEvent(path, "indexed", note, count, reading.pages, done, total))
        self.on_progress(done, total, f"Indexed {Path(path).name}")
        self._embed_missing(report)

    def _read(self, found: FoundFile, reading: Reading) -> list[ChunkRow]:
        """The file's passages; FileChanged when it changed while it was read (nothing is kept)."""
        self.reads += 1
        self.store.begin_reading(found.path)
        try:
            blocks = read_blocks(Path(found.path), found.kind, reading, limits=self.limits,
                                 page_reader=self.page_reader)
            chunks = list(chunk_blocks(blocks))
        except UnreadableDocument:
            raise
        except (MemoryError, RecursionError) as error:
            raise UnreadableDocument(f"it is too complex to read ({type(error).__name__})") from error
        except OSError:
            raise
        except Exception as error:  # a parser library's own exception on a damaged file
            logger.warning("Reading %s failed", found.path, exc_info=True)
            raise UnreadableDocument(f"it could not be read ({type(error).__name__}: {error})") from error
        finally:
            self.store.end_reading(found.path)
        try:
            after = os.stat(found.path)
        except FileNotFoundError:
            raise
        if (after.st_size, after.st_mtime_ns) != (found.size, found.mtime_ns):
            raise FileChanged("it changed while it was read; it will be read again")
        return chunks

    def _skip(self, source_id: int, found: FoundFile, reason: str, report: IndexReport, done: int, total: int,
              *, record: bool) -> None:
        report.skipped.append((found.path, reason))
        self.on_file(FileEvent(found.path, "skipped", reason, done=done, total=total))
        if record:
            self.store.write_skipped(source_id, found.path, size=found.size, mtime_ns=found.mtime_ns,
                                     sha256="", kind=found.kind, reason=reason)

    # ---- vectors -----------------------------------------------------------------------------------

    def _embed_missing(self, report: IndexReport) -> None:
        """Embeds passages that have no vector of the current model, a batch at a time."""
        model = self.embedder()
        if model is None:
            return
        if not report.embedded:
            self.store.drop_other_models(model.fingerprint)
        after = 0
        while True:
            batch = self.store.unembedded_with_headings(model.fingerprint, EMBED_BATCH, after)
            if not batch:
                return
            after = batch[-1][0]
            vectors = np.asarray(model.embed([embedding_text(text, heading) for _, text, heading in batch]),
                                 dtype="<f4")
            rows = [(chunk_id, vectors[i].tobytes()) for i, (chunk_id, _, _) in enumerate(batch)]
            report.embedded += self.store.add_vectors(model.fingerprint, rows)
            if self.should_stop():
                report.stopped = True
                return


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
