"""`assistant docs`: the documents library from the command line (add, update, list, remove, search).

Adding and searching read files and run the embedding model, so they go to the engine process like the
window's requests (`IndexDocumentsRequest`, `SearchDocumentsRequest`); listing and removing only touch
the library's SQLite file (`documents.library`), so they need no engine. Progress and per-file messages
go to stderr, results to stdout. Ctrl+C while indexing stops after the file being read: everything
indexed so far stays, and the same command (or `docs update`) goes on from there.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from assistant import settings as settings_module
from assistant.documents import library
from assistant.documents.errors import DocumentsError, SourceRefused
from assistant.documents.sources import checked_source
from assistant.documents.types import FileEvent, SourceInfo
from assistant.host.client import EngineClient, Inbox, Ticket
from assistant.host.messages import (
    DocumentIndexed,
    DocumentsFound,
    DocumentsIndexSummary,
    Done,
    Event,
    Failed,
    IndexDocumentsRequest,
    Progress,
    SearchDocumentsRequest,
    result_of,
)

EMPTY = "No documents yet. Add files or folders with `assistant docs add PATH…`."
SNIPPET_CHARS = 220
# The engine steps aside for other requests between files; the CLI sends none, but a window sharing
# nothing with it cannot queue any either, so a few rounds always finish the work.
MAX_ROUNDS = 100


def docs_command(args: argparse.Namespace) -> int:
    command = args.docs_command
    if command == "add":
        return add_command(args.paths, vectors=not args.no_vectors)
    if command == "update":
        return update_command()
    if command == "list":
        return list_command()
    if command == "remove":
        return remove_command(args.source)
    return search_command(" ".join(args.text), k=args.k, mode=args.mode)


# ---- add and update: indexing in the engine process ------------------------------------------------


def add_command(paths: Sequence[str], *, vectors: bool = True) -> int:
    """Add files and folders as sources and index them; refused paths are named and the rest go on."""
    accepted: list[str] = []
    for path in paths:
        try:
            resolved, _ = checked_source(path)
        except SourceRefused as refused:
            print(f"assistant: {refused}", file=sys.stderr)
            continue
        accepted.append(resolved)
    if not accepted:
        return 1
    code = _index(tuple(accepted), vectors=vectors)
    return code if code else (0 if len(accepted) == len(paths) else 1)


def update_command() -> int:
    """Pick up what changed on disk since the last run: new, changed and removed files."""
    if not library.list_sources(settings_module.data_dir()):
        print(EMPTY, file=sys.stderr)
        return 0
    return _index((), vectors=True)


def _index(add: tuple[str, ...], *, vectors: bool) -> int:
    settings = settings_module.load_settings()
    data_dir = str(settings_module.data_dir())
    inbox = Inbox()  # handlers run on this (main) thread
    client = EngineClient(inbox.deliver)
    log = _IndexLog()
    try:
        for _ in range(MAX_ROUNDS):
            request = IndexDocumentsRequest(data_dir, add=add, embed=vectors, threads=settings.threads)
            log.start_round()
            ticket: Ticket = client.send(request, log)
            _pump(inbox, ticket, log)
            add = ()  # added in the first round; later rounds only go on with the scan
            if log.failed or log.stopped or log.summary is None or log.summary.remaining == 0:
                break
    finally:
        client.shutdown()
    log.finish_line()
    if log.failed:
        return 1
    log.print_summary()
    return 130 if log.stopped else 0


def _pump(inbox: Inbox, ticket: Ticket, log: _IndexLog) -> None:
    """Until the request ends. The first Ctrl+C stops after the file being read (what is indexed
    stays); a second one stops the engine at once (it is killed if it does not confirm in time)."""
    interrupts = 0
    while not log.ended:
        try:
            inbox.pump()
        except KeyboardInterrupt:
            interrupts += 1
            if interrupts == 1:
                log.stopping()
                ticket.drop()  # no kill deadline: the engine finishes the file it is reading
            else:
                ticket.cancel()


class _IndexLog:
    """The index request's handler: a progress line, one line per file read or skipped, the summary."""

    def __init__(self) -> None:
        self.ended = False
        self.failed = False
        self.stopped = False
        self.summary: DocumentsIndexSummary | None = None
        self.totals = {"indexed": 0, "removed": 0, "skipped": 0, "chunks": 0}
        self.skipped: list[tuple[str, str]] = []
        self._progress_shown = False
        # The progress line rewrites itself with "\r": only on a terminal, never in a log file.
        self.live = sys.stderr.isatty()

    def start_round(self) -> None:
        self.ended = False

    def stopping(self) -> None:
        self.stopped = True
        self.finish_line()
        print("Stopping after the file being read; what is indexed stays (Ctrl+C again: stop now)…",
              file=sys.stderr, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            if not self.live:
                return  # redirected to a file or a pipe: the per-file lines say enough
            if event.stage == "documents":  # files done of total, and what the engine does now
                line = f"[{event.done}/{event.total} files] {event.message}"
            else:  # inside one file (pages), or the embedding model being prepared
                line = f"{event.message or event.stage}: {event.done}/{event.total}" if event.total else \
                    event.message or event.stage
            print(f"\r{line[:100]:<100}", end="", file=sys.stderr, flush=True)
            self._progress_shown = True
        elif isinstance(event, DocumentIndexed):
            self._file(event.file)
        elif isinstance(event, Failed):
            self.finish_line()
            print(f"assistant: {event.message}", file=sys.stderr)
            self.failed = self.ended = True
        elif isinstance(event, Done):
            self.summary = result_of(event, DocumentsIndexSummary)
            if event.status != "complete":
                self.stopped = True
            self.ended = True

    def _file(self, file: FileEvent) -> None:
        self.finish_line()
        name = file.path
        if file.status == "indexed":
            self.totals["indexed"] += 1
            self.totals["chunks"] += file.chunks
            pages = f"{file.pages} pages, " if file.pages else ""
            print(f"indexed {name} ({pages}{_count(file.chunks, 'passage')})", file=sys.stderr)
        elif file.status == "skipped":
            self.totals["skipped"] += 1
            self.skipped.append((file.path, file.reason))
            print(f"skipped {name}: {file.reason}", file=sys.stderr)
        elif file.status == "removed":
            self.totals["removed"] += 1
            print(f"removed {name} (gone from the disk or from your sources)", file=sys.stderr)

    def finish_line(self) -> None:
        """Clear the progress line, so the next message starts on a clean line."""
        if self._progress_shown:
            print(f"\r{'':<100}\r", end="", file=sys.stderr)
            self._progress_shown = False

    def print_summary(self) -> None:
        summary, totals = self.summary, self.totals
        parts = [f"indexed {_count(totals['indexed'], 'file')} ({_count(totals['chunks'], 'passage')})"]
        if summary is not None and summary.unchanged:
            parts.append(f"{summary.unchanged} unchanged")
        if totals["removed"]:
            parts.append(f"{totals['removed']} removed")
        if totals["skipped"]:
            parts.append(f"{totals['skipped']} skipped (above, with why)")
        print(("Stopped: " if self.stopped else "Done: ") + ", ".join(parts) + ".", file=sys.stderr)
        if summary is None:
            return
        if summary.remaining:
            print(f"{_count(summary.remaining, 'file')} not read yet: run `assistant docs update` to go on.",
                  file=sys.stderr)
        print(f"Your documents now hold {_count(summary.chunks, 'passage')}.", file=sys.stderr)
        if not summary.vectors:
            note = f" ({summary.note})" if summary.note else ""
            print(f"Searching by keywords only: no embedding model could be used{note}.", file=sys.stderr)


# ---- list and remove: the library file only ---------------------------------------------------------


def list_command() -> int:
    data_dir = settings_module.data_dir()
    try:
        sources = library.list_sources(data_dir)
        files = library.list_files(data_dir) if sources else []
    except DocumentsError as error:
        print(f"assistant: {error}", file=sys.stderr)
        return 1
    if not sources:
        print(EMPTY)
        return 0
    print(format_sources(sources))
    problems = [f for f in files if f.status == "skipped"]
    if problems:
        print(f"\nProblems ({_count(len(problems), 'file')} not indexed):")
        for file in problems:
            print(f"  {file.path}: {file.reason}")
    return 0


def format_sources(sources: Sequence[SourceInfo]) -> str:
    rows = [("Source", "Files", "Passages", "Skipped", "Last indexed")]
    for source in sources:
        shown = f"{source.path}{'/' if source.is_folder else ''}"
        counts = (str(source.files), str(source.chunks), str(source.skipped))
        rows.append((shown, *counts, _when(source.last_scan)))
    width = max(len(row[0]) for row in rows)
    lines = [f"{row[0]:<{width}}  {row[1]:>5}  {row[2]:>8}  {row[3]:>7}  {row[4]}" for row in rows]
    total_files, total_chunks = sum(s.files for s in sources), sum(s.chunks for s in sources)
    lines.append(f"{_count(len(sources), 'source')}, {_count(total_files, 'file')}, "
                 f"{_count(total_chunks, 'passage')}")
    return "\n".join(lines)


def remove_command(target: str) -> int:
    """Remove a source by its path, or by its name when only one source has that name."""
    data_dir = settings_module.data_dir()
    try:
        sources = library.list_sources(data_dir)
        chosen = _match(sources, target)
        if isinstance(chosen, str):
            print(f"assistant: {chosen}", file=sys.stderr)
            return 1
        library.remove_source(data_dir, chosen.path)
    except DocumentsError as error:
        print(f"assistant: {error}", file=sys.stderr)
        return 1
    print(f"Removed {chosen.path}: {_count(chosen.files, 'file')} and {_count(chosen.chunks, 'passage')} "
          "are gone from your documents (text and vectors).")
    return 0


def _match(sources: Sequence[SourceInfo], target: str) -> SourceInfo | str:
    """The source `target` names, or why there is none (not a source, or a name several share)."""
    wanted = {target, str(Path(target).expanduser().absolute()).rstrip("/")}
    exact = [s for s in sources if s.path in wanted or s.path.rstrip("/") in wanted]
    if exact:
        return exact[0]
    named = [s for s in sources if Path(s.path).name == target.rstrip("/")]
    if len(named) == 1:
        return named[0]
    if named:
        listed = ", ".join(s.path for s in named)
        return f"several sources are called {target}: {listed}. Give the whole path."
    if not sources:
        return f"{target} is not in your documents (there are none yet)."
    return f"{target} is not one of your sources; `assistant docs list` shows them."


# ---- search ---------------------------------------------------------------------------------------------


def search_command(text: str, *, k: int = 6, mode: str = "hybrid") -> int:
    if not text.strip():
        print("assistant: say what to look for: assistant docs search TEXT", file=sys.stderr)
        return 2
    data_dir = settings_module.data_dir()
    if not library.list_sources(data_dir):
        print(EMPTY)
        return 0
    settings = settings_module.load_settings()
    found: DocumentsFound | None = None
    started = time.perf_counter()
    with EngineClient() as engine:
        request = SearchDocumentsRequest(str(data_dir), text, k=max(1, k), mode=mode,  # type: ignore[arg-type]
                                         threads=settings.threads)
        for event in engine.stream(request):
            found = result_of(event, DocumentsFound) or found
            if isinstance(event, Failed):
                print(f"assistant: {event.message}", file=sys.stderr)
                return 1
    if found is None:
        print("assistant: the engine did not answer the search.", file=sys.stderr)
        return 1
    print(format_found(found))
    if found.note:
        print(f"({found.note})", file=sys.stderr)
    total = time.perf_counter() - started
    print(f"{found.mode} search: {found.embed_s * 1000:.0f} ms to embed the question, "
          f"{found.search_s * 1000:.0f} ms to search ({total:.1f} s with the engine's start)",
          file=sys.stderr)
    return 0


def format_found(found: DocumentsFound) -> str:
    if not found.passages:
        return f"No passage matches “{found.query}”."
    lines = []
    for rank, passage in enumerate(found.passages, start=1):
        weak = "" if passage.relevant else "  (weak match)"
        lines.append(f"{rank}. {passage.citation()}{weak}\n   {passage.path}\n   {_snippet(passage.text)}")
    return "\n".join(lines)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _when(timestamp: float | None) -> str:
    return "not yet" if timestamp is None else datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
