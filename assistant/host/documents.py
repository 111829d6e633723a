"""Your documents in the engine process: indexing, searching, and reading an attached document.

Parsers of files the user did not write (PDF, DOCX, HTML...) run only here, never in the window: a
hostile file can at worst take this process down, and `documents.indexer` then skips it on the next
run. The embedding model (catalogue role "embed", `engines/embeddings.py`) loads on first need and
stays, next to the chat model; the library's vectors are kept as an in-memory matrix per data folder
and reloaded only when the library changed. Without the embedding model, indexing and search go on
with BM25 alone and say so (DocumentsIndexSummary.note, DocumentsFound.note).

An IndexDocumentsRequest is long background work: between files and between embedding batches it
reads the pipe, stops on Cancel (the window's Pause and Cancel), and ends early when another request
is queued (after at least one file, so every run makes progress), reporting `remaining` so the window
asks again, as image indexing does (`host/indexing.py`). Scanned PDF pages go through the same OCR
reader as images (`Perception.text_reader`).
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.documents.types import FileEvent
from assistant.host.messages import (
    DocumentIndexed,
    DocumentRead,
    DocumentsFound,
    DocumentsIndexSummary,
    Done,
    Event,
    Failed,
    IndexDocumentsRequest,
    Progress,
    ReadDocumentRequest,
    SearchDocumentsRequest,
)
from assistant.protocols import GenerationStats, ModelError, TextEmbedder

logger = logging.getLogger(__name__)


class DocumentService:
    """Serves the documents requests for the engine's request loop (one thread)."""

    def __init__(self, send: Callable[[Event], None], check_cancel: Callable[[int], bool],
                 others_waiting: Callable[[], bool], text_reader: Callable[[int], Any]) -> None:
        self._send = send
        self._check_cancel = check_cancel
        self._others_waiting = others_waiting
        self._text_reader = text_reader  # threads -> protocols.TextReader (the engine's OCR)
        self._embedders: dict[Path, TextEmbedder] = {}
        self._embedder_note = ""
        self._vectors: dict[tuple[Path, str], Any] = {}  # (data folder, model) -> VectorIndex

    # ---- embedding model ---------------------------------------------------------------------------

    def embedder(self, data_dir: Path, threads: int = 0) -> TextEmbedder | None:
        """The catalogue's embedding model, assembled and loaded once; None (with a note) without it."""
        from assistant.models import catalog

        try:
            entry = catalog.default_model("embed")
            folder = catalog.ensure_model(entry, data_dir)
            if folder not in self._embedders:
                from assistant.engines.embeddings import OnnxTextEmbedder

                self._embedders[folder] = OnnxTextEmbedder.load(folder, threads)
            self._embedder_note = ""
            return self._embedders[folder]
        except ModelError as error:
            self._embedder_note = f"keyword search only: the embedding model is not usable ({error})"
            logger.warning("Documents: %s", self._embedder_note)
            return None

    # ---- requests ----------------------------------------------------------------------------------

    def index(self, request: IndexDocumentsRequest) -> None:
        from assistant.documents.errors import DocumentsError
        from assistant.documents.indexer import Indexer
        from assistant.documents.store import DocumentStore

        rid, data_dir = request.request_id, Path(request.data_dir)
        started = time.perf_counter()
        cancelled = False
        asked = 0

        def should_stop() -> bool:
            nonlocal cancelled, asked
            asked += 1
            if self._check_cancel(rid):
                cancelled = True
                return True
            return asked > 1 and self._others_waiting()  # a question waits: it goes first

        def on_file(event: FileEvent) -> None:
            self._send(DocumentIndexed(rid, event))

        def on_progress(done: int, total: int, message: str) -> None:
            self._send(Progress(rid, "documents", done, total, message))

        embedder_cache: list[TextEmbedder | None] = []

        def embedder() -> TextEmbedder | None:
            if not request.embed:
                return None
            if not embedder_cache:
                embedder_cache.append(self.embedder(data_dir, request.threads))
            return embedder_cache[0]

        try:
            with DocumentStore.open(data_dir) as store:
                indexer = Indexer(store, on_file=on_file, on_progress=on_progress, should_stop=should_stop,
                                  embedder=embedder, page_reader=self._page_reader(request.threads))
                report = indexer.run(request.add, request.remove, request.scan)
                chunks = store.chunk_count()
        except DocumentsError as error:
            self._send(Failed(rid, str(error), kind="engine"))
            return
        # Whether passages get vectors: known when the model was asked for, else as the last time it was.
        has_vectors = (embedder_cache[0] is not None if embedder_cache
                       else request.embed and not self._embedder_note)
        notes = list(report.notes)
        if request.embed and not has_vectors:
            notes.append(self._embedder_note)
        summary = DocumentsIndexSummary(report.indexed, report.unchanged, report.removed,
                                        tuple(report.skipped), report.remaining, chunks, has_vectors,
                                        "; ".join(n for n in notes if n))
        stats = GenerationStats(total_s=time.perf_counter() - started)
        stats.extra.update(indexed=float(report.indexed), skipped=float(len(report.skipped)),
                           remaining=float(report.remaining), embedded=float(report.embedded))
        self._send(Done(rid, "stopped" if cancelled else "complete", stats, result=summary))

    def search(self, request: SearchDocumentsRequest) -> None:
        from assistant.documents.errors import DocumentsError
        from assistant.documents.library import find_source
        from assistant.documents.search import search
        from assistant.documents.store import DocumentStore, library_path
        from assistant.documents.vector_index import VectorIndex

        rid, data_dir = request.request_id, Path(request.data_dir)
        started = time.perf_counter()
        if not library_path(data_dir).exists():
            empty = DocumentsFound(request.query, (), request.mode, "no documents were added yet")
            self._send(Done(rid, "complete", GenerationStats(total_s=time.perf_counter() - started),
                            result=empty))
            return
        note = ""
        query_vector, vectors, embed_s = None, None, 0.0
        if request.mode != "bm25":
            model = self.embedder(data_dir, request.threads)
            if model is None:
                note = self._embedder_note
            else:
                embed_started = time.perf_counter()
                query_vector = model.embed([request.query])[0]
                embed_s = time.perf_counter() - embed_started
                key = (data_dir, model.fingerprint)
                if key not in self._vectors:
                    from assistant.engines.vector_product import int8_product

                    self._vectors[key] = VectorIndex(model.fingerprint, model.dim,
                                                     int8_product(request.threads))
                vectors = self._vectors[key]
        try:
            with DocumentStore.open(data_dir) as store:
                if vectors is not None:
                    vectors.refresh(store)
                source_ids = [s.source_id for s in (find_source(store, p) for p in request.sources) if s]
                if request.sources and not source_ids:
                    result_passages, mode, search_s = [], request.mode, 0.0
                    note = "none of the chosen sources is in the library"
                else:
                    result = search(store, request.query, k=request.k, mode=request.mode,
                                    query_vector=query_vector, vectors=vectors, source_ids=source_ids)
                    result_passages, mode, search_s = result.passages, result.mode, result.search_s
        except DocumentsError as error:
            self._send(Failed(rid, str(error), kind="engine"))
            return
        if mode != request.mode and not note:
            note = "keyword search only: no passage has a vector yet"
        found = DocumentsFound(request.query, tuple(result_passages), mode, note, embed_s, search_s)
        self._send(Done(rid, "complete", GenerationStats(total_s=time.perf_counter() - started),
                        result=found))

    def read(self, request: ReadDocumentRequest) -> None:
        from assistant.documents.attached import select_passages
        from assistant.documents.chunking import chunk_blocks
        from assistant.documents.errors import UnreadableDocument
        from assistant.documents.formats import kind_of
        from assistant.documents.limits import Reading
        from assistant.documents.reading import read_blocks

        rid, path = request.request_id, request.path
        started = time.perf_counter()
        name = Path(path).name
        kind = kind_of(path)
        try:
            if kind is None:
                raise UnreadableDocument("files of this kind are not read as documents")
            mode = os.stat(path).st_mode  # a FIFO or a device is never opened
            if not stat.S_ISREG(mode):
                raise UnreadableDocument("it is not a regular file")
            reading = Reading(kind)
            self._send(Progress(rid, "document", 0, 1, f"Reading {name}"))
            chunks = list(chunk_blocks(read_blocks(Path(path), kind, reading,
                                                   page_reader=self._page_reader(request.threads))))
            if self._check_cancel(rid):
                self._send(Done(rid, "stopped", GenerationStats()))
                return
            embedder = self.embedder(Path(request.data_dir), request.threads) if request.query else None
            selection = select_passages(path, chunks, request.query, request.max_chars, embedder)
        except UnreadableDocument as error:
            self._send(Failed(rid, f"{name} cannot be read: {error}.", kind="engine"))
            return
        except FileNotFoundError:
            self._send(Failed(rid, f"{name} cannot be read: it no longer exists.", kind="engine"))
            return
        except OSError as error:
            self._send(Failed(rid, f"{name} cannot be read: {error.strerror or error}.", kind="engine"))
            return
        read = DocumentRead(path, kind, selection.whole, tuple(selection.passages), len(chunks),
                            reading.pages, selection.chars, "; ".join(reading.notes))
        self._send(Done(rid, "complete", GenerationStats(total_s=time.perf_counter() - started),
                        result=read))

    def _page_reader(self, threads: int) -> Callable[[Any], str]:
        def read_page(image: Any) -> str:
            return self._text_reader(threads).read(image).text

        return read_page
