"""Documents through the real engine process: indexing with per-file events and a summary, Cancel
(Pause) keeps what is done and the next request resumes without re-reading it, the engine steps aside
for a queued question, a search and an attached document are answered there."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from doc_files import fact_pdf

from assistant.host.client import EngineClient
from assistant.host.messages import (
    DocumentIndexed,
    DocumentRead,
    DocumentsFound,
    DocumentsIndexSummary,
    Done,
    Failed,
    IndexDocumentsRequest,
    ReadDocumentRequest,
    SearchDocumentsRequest,
    result_of,
)

pytest.importorskip("reportlab")


def folder_of(tmp_path: Path, files: int = 12) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    fact_pdf(folder / "harbour_report.pdf")
    for index in range(files):
        note = f"# Note {index}\n\nThe Bellweather count is {index * 7}.\n"
        (folder / f"note-{index:02d}.md").write_text(note)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    return folder


def test_index_search_and_read_in_the_engine(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, files=2)
    data = str(tmp_path / "data")
    with EngineClient() as engine:
        events = list(engine.stream(IndexDocumentsRequest(data_dir=data, add=(str(folder),))))
        indexed = [e for e in events if isinstance(e, DocumentIndexed)]
        assert {Path(e.file.path).name: e.file.status for e in indexed} == {
            "harbour_report.pdf": "indexed", "note-00.md": "indexed", "note-01.md": "indexed",
            "broken.pdf": "skipped"}
        assert next(e.file for e in indexed if e.file.path.endswith("harbour_report.pdf")).pages == 3
        [summary] = [r for e in events if (r := result_of(e, DocumentsIndexSummary))]
        assert (summary.indexed, summary.remaining, summary.vectors) == (3, 0, True)
        assert [Path(p).name for p, _ in summary.skipped] == ["broken.pdf"]
        assert isinstance(events[-1], Done) and events[-1].status == "complete"

        question = SearchDocumentsRequest(data_dir=data, query="Who keeps the Vellmoor lighthouse?")
        found = [r for e in engine.stream(question) if (r := result_of(e, DocumentsFound))]
        best = found[0].passages[0]
        assert found[0].mode == "hybrid" and best.citation() == "harbour_report.pdf, page 2" and best.relevant

        read = list(engine.stream(ReadDocumentRequest(path=str(folder / "harbour_report.pdf"), data_dir=data,
                                                      query="Quillfeather fund", max_chars=120)))
        [document] = [r for e in read if (r := result_of(e, DocumentRead))]
        assert not document.whole and document.total_passages == 3 and document.pages == 3
        assert [p.locator.page for p in document.passages] == [3]
        failed = list(engine.stream(ReadDocumentRequest(path=str(folder / "broken.pdf"), data_dir=data)))
        assert isinstance(failed[-1], Failed) and "broken.pdf cannot be read" in failed[-1].message


def test_cancel_keeps_what_is_done_and_the_next_run_resumes(tmp_path: Path) -> None:
    folder = folder_of(tmp_path)
    data = str(tmp_path / "data")
    with EngineClient() as engine:
        seen: list = []
        finished = threading.Event()

        def on_event(event) -> None:
            seen.append(event)
            if isinstance(event, DocumentIndexed) and sum(isinstance(e, DocumentIndexed) for e in seen) == 2:
                ticket.cancel()  # the window's Pause
            if isinstance(event, Done | Failed):
                finished.set()

        ticket = engine.send(IndexDocumentsRequest(data_dir=data, add=(str(folder),), embed=False), on_event)
        assert finished.wait(120)
        [summary] = [r for e in seen if (r := result_of(e, DocumentsIndexSummary))]
        assert seen[-1].status == "stopped" and summary.remaining > 0
        first = {e.file.path for e in seen if isinstance(e, DocumentIndexed)}

        resumed = list(engine.stream(IndexDocumentsRequest(data_dir=data, embed=False)))
        again = {e.file.path for e in resumed if isinstance(e, DocumentIndexed)}
        [summary] = [r for e in resumed if (r := result_of(e, DocumentsIndexSummary))]
        assert not first & again  # nothing done before is read again
        assert len(first | again) == 14 and summary.remaining == 0 and summary.unchanged == len(first)


def test_a_queued_search_goes_before_the_rest_of_the_indexing(tmp_path: Path) -> None:
    folder = folder_of(tmp_path, files=30)
    data = str(tmp_path / "data")
    with EngineClient() as engine:
        order: list[str] = []
        done = threading.Event()
        searched = threading.Event()

        def on_index(event) -> None:
            if isinstance(event, DocumentIndexed) and not searched.is_set() and len(order) == 0:
                order.append("indexing")
                search = SearchDocumentsRequest(data_dir=data, query="Bellweather", mode="bm25")
                engine.send(search, on_search)
            if (summary := result_of(event, DocumentsIndexSummary)) is not None:
                order.append(f"summary remaining={summary.remaining}")
            if isinstance(event, Done | Failed):
                done.set()

        def on_search(event) -> None:
            if result_of(event, DocumentsFound) is not None:
                order.append("search")
                searched.set()

        engine.send(IndexDocumentsRequest(data_dir=data, add=(str(folder),), embed=False), on_index)
        assert done.wait(120) and searched.wait(60)
        remaining = int(next(o for o in order if o.startswith("summary")).split("=")[1])
        assert remaining > 0  # it stepped aside for the search
        rest = list(engine.stream(IndexDocumentsRequest(data_dir=data, embed=False)))
        assert next(r for e in rest if (r := result_of(e, DocumentsIndexSummary))).remaining == 0
