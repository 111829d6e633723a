"""Your documents in the window: the Documents panel (View ▸ Documents…), indexing with per-file progress,
Pause/Resume/Cancel, the skipped files and why, changes picked up at start and while the window runs,
and questions answered from the documents ("Use my documents") with their passages and sources.

Offscreen Qt, real widgets, the real engine process (the all-MiniLM embedding model from its package;
SmolLM2 loaded as the chat model, which these tests do not rely on to answer well), a real history
file and real PDF/DOCX/Markdown/HTML files (tests/doc_corpus.py). What the model says is checked with
the bundled Qwen 0.5B in test_window_doc_answers.py; here, what the app controls: the passages told,
their numbers, files and pages, the app's own answer when nothing is relevant, and the sources' links.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import doc_corpus
import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QKeySequence
from window_drops import WAIT_MS, wait_idle

from assistant.documents import library
from assistant.prompt import documents
from assistant.prompt.grounding import passages as told_passages
from assistant.ui.app import AssistantApp
from assistant.ui.documents.documents_panel import DocumentsPanel
from assistant.ui.documents.open_source import SourceOpener
from assistant.ui.documents.window_documents import TOGGLE_TEXT

pytest.importorskip("reportlab")
pytest.importorskip("docx")
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = doc_corpus.corpus(tmp_path / "my documents")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    return folder


def open_panel(parts: AssistantApp) -> DocumentsPanel:
    parts.window.documents_action.trigger()  # View ▸ Documents…
    panel = parts.actions.documents.panel
    assert panel is not None and panel.isVisible()
    return panel


def wait_run(qtbot, parts: AssistantApp, outcome: str = "complete") -> None:
    indexing = parts.actions.documents.indexing

    def ended() -> bool:
        return indexing.report is not None and indexing.report.outcome != "" and not indexing.running

    qtbot.waitUntil(ended, timeout=WAIT_MS)
    assert indexing.report is not None and indexing.report.outcome == outcome, indexing.report


def status_messages(parts: AssistantApp) -> list[str]:
    """Every status-bar message shown from now on (the bar keeps only the latest)."""
    shown: list[str] = []
    status = parts.window.status
    show_info = status.show_info
    status.show_info = lambda text: (shown.append(text), show_info(text))  # type: ignore[method-assign]
    return shown


def indexed_names(data_dir: Path) -> dict[str, str]:
    return {Path(f.path).name: f.status for f in library.list_files(data_dir)}


def test_the_panel_indexes_a_folder_with_progress_and_says_what_it_skipped_and_why(
    qtbot, make_app, app_dirs: Path, corpus: Path
) -> None:
    parts = make_app()
    data_dir = app_dirs / "data"
    action = parts.window.documents_action
    assert action.shortcut() == QKeySequence("Ctrl+Shift+D") and "Documents" in action.text()
    panel = open_panel(parts)
    assert panel.empty.isVisible() and not panel.tree.isVisible()  # nothing yet: says how to start
    indexing = parts.actions.documents.indexing
    seen: list[str] = []
    indexing.progressed.connect(lambda progress: seen.append(progress.message))
    panel.folder_picker = lambda _parent: [str(corpus)]
    panel.add_folder_button.click()
    assert indexing.running and panel.pause_button.isEnabled() and panel.cancel_button.isEnabled()
    wait_run(qtbot, parts)

    # Per-file progress: each file named as the engine read it.
    for name in ("harbour_report.pdf", "orchard_minutes.docx", "field_notes.md", "recipes.html"):
        assert f"Reading {name}" in seen
    assert not indexing.running and not panel.cancel_button.isEnabled()
    source = panel.tree.topLevelItem(0)
    assert (source.text(0), source.text(1), source.text(3)) == (f"{corpus}/", "4", "1")
    [problem] = panel.problems_text()
    assert problem.startswith("broken.pdf: ") and len(problem) > len("broken.pdf: ") + 5
    summary = panel.summary.text()
    assert summary.startswith("4 files indexed") and "1 skipped" in summary
    assert panel.skipped.isVisible() and panel.skipped.item(0).text() == problem
    assert indexed_names(data_dir)["broken.pdf"] == "skipped"
    panel.grab().save("/tmp/documents-panel.png")  # looked at by hand (README)

    # Added, changed and removed files are seen while the window runs (the folder is watched).
    notes = corpus / "field_notes.md"
    notes.write_text(notes.read_text() + "\n## Supplies\n\nThe expedition carried 19 tins of Orvak tea.\n")
    (corpus / "lanterns.md").write_text("# Lanterns\n\nThe Sellund lantern burns whale oil.\n")
    (corpus / "recipes.html").unlink()
    qtbot.waitUntil(lambda: "lanterns.md" in indexed_names(data_dir) and "recipes.html" not in
                    indexed_names(data_dir) and not indexing.running, timeout=WAIT_MS)
    assert parts.actions.documents.watcher.changes_seen > 0
    report = indexing.report
    assert report is not None and report.indexed == 2 and report.removed == 1, report

    # Remove the folder: its passages go, the panel says how to start again.
    panel.confirm = lambda _parent, _source: True
    panel.tree.topLevelItem(0).setSelected(True)
    panel.remove_button.click()
    qtbot.waitUntil(lambda: not library.list_sources(data_dir) and not indexing.running, timeout=WAIT_MS)
    qtbot.waitUntil(panel.empty.isVisible)
    assert library.list_files(data_dir) == []


def test_changes_made_while_the_window_was_closed_are_picked_up_when_it_starts(
    qtbot, make_app, app_dirs: Path, corpus: Path
) -> None:
    data_dir = app_dirs / "data"
    first = make_app()
    shown = status_messages(first)
    first.actions.documents.indexing.add([str(corpus)])  # indexing runs without the panel open
    wait_run(qtbot, first)
    assert any(text.startswith("Documents: 4 files indexed") for text in shown), shown
    first.shutdown()
    first.window.close()

    before = {f.path: f for f in library.list_files(data_dir)}
    (corpus / "orchard_minutes.docx").unlink()
    notes = corpus / "field_notes.md"
    notes.write_text("# Field notes\n\n## Station codes\n\nThe Kelvaro call sign changed to ZK-51B.\n")
    os.utime(notes, (notes.stat().st_atime, notes.stat().st_mtime + 5))
    second = make_app()  # the engine starts: a re-scan before the watch begins
    wait_run(qtbot, second)
    report = second.actions.documents.indexing.report
    assert report is not None and (report.indexed, report.removed) == (1, 1), report
    after = {f.path: f for f in library.list_files(data_dir)}
    assert str(corpus / "orchard_minutes.docx") not in after
    unchanged = corpus / "harbour_report.pdf"
    assert after[str(unchanged)] == before[str(unchanged)]  # never read again
    assert str(corpus) in second.actions.documents.watcher.watched()


def test_pause_resume_and_cancel(qtbot, make_app, app_dirs: Path, tmp_path: Path) -> None:
    data_dir = app_dirs / "data"
    many = tmp_path / "many notes"
    many.mkdir()
    for index in range(40):
        (many / f"note-{index:02d}.md").write_text(f"# Note {index}\n\nThe Bellweather count is {index}.\n")
    parts = make_app()
    panel = open_panel(parts)
    indexing = parts.actions.documents.indexing
    reported: list[str] = []
    indexing.file_reported.connect(lambda event: reported.append(event.file.path))
    panel.add_paths([str(many)])
    # Pressed at once (the engine checks between files), so the run surely has files left.
    panel.pause_button.click()
    wait_run(qtbot, parts, "paused")
    assert panel.pause_button.text() == "Resume" and "Paused" in panel.status.text()
    assert len(reported) < 40 and indexing.report is not None and indexing.report.remaining > 0
    assert f"{indexing.report.remaining} files wait for Resume" in panel.summary.text()
    assert not indexing.rescan()  # a watched change does not start a paused library

    panel.pause_button.click()  # Resume: goes on where it stopped
    wait_run(qtbot, parts)
    assert len(reported) == 40 and len(set(reported)) == 40  # no file read twice
    assert library.list_sources(data_dir)[0].files == 40

    # Cancel takes back what the run added; the folder indexed before stays.
    more = tmp_path / "more notes"
    more.mkdir()
    for index in range(40):
        (more / f"more-{index:02d}.md").write_text(f"# More {index}\n\nThe Farrowdale tally is {index}.\n")
    reported.clear()
    panel.add_paths([str(more)])
    panel.cancel_button.click()
    wait_run(qtbot, parts, "cancelled")
    assert [s.path for s in library.list_sources(data_dir)] == [str(many)]
    assert "taken back" in panel.summary.text()


def test_use_my_documents_answers_from_the_passages_and_links_the_sources(
    qtbot, make_app, app_dirs: Path, corpus: Path
) -> None:
    parts = make_app(engine=True)
    window, documents_ui = parts.window, parts.actions.documents
    toggle = documents_ui.toggle
    assert toggle.text() == TOGGLE_TEXT and toggle.isVisibleTo(window) and not toggle.isChecked()
    shown = status_messages(parts)
    toggle.click()  # no documents yet: the window says where to add some
    assert parts.session.settings.use_documents
    saved = json.loads((app_dirs / "config" / "settings.json").read_text())
    assert saved["use_documents"] is True
    assert any("View ▸ Documents" in text for text in shown), shown

    documents_ui.indexing.add([str(corpus)])
    wait_run(qtbot, parts)
    opened: list[QUrl] = []
    window.chat_view.source_opener = SourceOpener(open_url=lambda url: opened.append(url) or True)

    fact = doc_corpus.KEEPER
    window.composer.set_draft(fact.question)
    window.composer.button.click()
    wait_idle(qtbot, parts)
    question, answer = parts.store.messages(parts.controller.current_conversation_id)
    told = told_passages(question.groundings)
    assert (told[0].number, told[0].label) == (1, f"{fact.file}, {fact.where}")
    assert "Orsolya Brandtner" in told[0].text and question.prompt.startswith(documents.SOURCES_HEADING)
    assert answer.status == "complete"

    # "What the model was told" shows the numbered passages.
    bubbles = window.chat_view.bubbles()
    panel = bubbles[0].grounding
    assert panel is not None
    panel.toggle.click()
    shown = panel.plain_text()
    assert f"[1] {fact.file}, {fact.where}" in shown and "Orsolya Brandtner" in shown

    # The sources under an answer open the file at the page (set here on the told passage, whatever
    # SmolLM2 wrote; which passages an answer's own words select is tested in tests/documents).
    window.chat_view.set_sources(answer.id, told[:1])
    sources = bubbles[1].sources
    assert sources is not None and sources.isVisibleTo(window)
    assert f"[1] {fact.file}, {fact.where}" in sources.label.text()
    sources.label.linkActivated.emit("source:1")
    assert [url.toString() for url in opened] == [QUrl.fromLocalFile(str(corpus / fact.file)).toString()
                                                 + "#page=2"]
    # A source whose file has gone says so instead of opening nothing.
    (corpus / fact.file).rename(corpus / "moved.pdf")
    assert "no longer at" in (sources.open_number(1) or "") and sources.error.isVisibleTo(window)

    # Nothing relevant: the app answers itself, no model, no sources.
    window.composer.set_draft(doc_corpus.UNCOVERED)
    window.composer.button.click()
    wait_idle(qtbot, parts)
    *_, uncovered_question, reply = parts.store.messages(parts.controller.current_conversation_id)
    assert reply.text == documents.NOT_COVERED
    assert [g.kind for g in uncovered_question.groundings] == ["search"]
    assert window.chat_view.bubbles()[-1].sources is None
    window.grab().save("/tmp/documents-answer.png")


def test_a_dropped_pdf_is_attached_read_and_its_passages_told(qtbot, make_app, tmp_path: Path) -> None:
    from window_drops import drop, files

    folder = tmp_path / "drop"
    folder.mkdir()
    survey = doc_corpus.long_report(folder)
    parts = make_app()
    drop(parts.window, files(survey))
    composer = parts.window.composer
    assert [(a.name, a.kind) for a in composer.attachments()] == [("survey_2031.pdf", "document")]
    composer.set_draft(doc_corpus.LONG_FACT.question)
    composer.button.click()
    wait_idle(qtbot, parts)
    assert parts.controller.attachments.last_error is None, parts.window.status.last_error
    question, answer = parts.store.messages(parts.controller.current_conversation_id)
    told = told_passages(question.groundings)
    assert "page 31" in [p.locator for p in told] and len(told) < 40  # retrieved from, not cut
    assert "2,417 metres" in question.prompt and answer.status == "complete"
    assert [a.name for a in question.attachments] == ["survey_2031.pdf"]
