"""`assistant docs …` and `assistant ask --docs / --doc` as a user runs them: real subprocesses, the real
engine process (the all-MiniLM embedding model from its package, SmolLM2 for answers), a real history
file, and real PDF, DOCX, Markdown and HTML files holding invented facts (tests/doc_corpus.py).

SmolLM2-135M cannot be trusted to answer or cite, so these tests assert what the app controls: which
passages the model was told (with their numbers, file and page), the "Sources:" block naming only those,
the app's own answer when nothing relevant is found (no model asked), and the exit codes. Whether the
small bundled model (Qwen 0.5B) answers with the right fact is checked in tests/chat/test_doc_answers.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import doc_corpus
import pytest
from cli_runner import run_assistant, stored_messages

from assistant.prompt import documents

pytest.importorskip("reportlab")
pytest.importorskip("docx")
pytestmark = pytest.mark.timeout(300)


def run(home: Path, *args: str, **settings: object) -> subprocess.CompletedProcess[str]:
    values = {"threads": 1, "temperature": 0.0, "max_answer_tokens": 40, **settings}
    return run_assistant(*args, data_dir=home / "data", config_dir=home / "config", settings=values,
                         timeout=280)


def asked(home: Path) -> tuple[str, list[tuple[str, str, int, str]]]:
    """The last question's prompt and its groundings (kind, source, number, locator)."""
    with sqlite3.connect(home / "data" / "history.sqlite3") as connection:
        message_id, prompt = connection.execute(
            "SELECT id, prompt FROM messages WHERE role = 'user' ORDER BY id DESC LIMIT 1").fetchone()
        rows = connection.execute(
            "SELECT kind, source, details FROM groundings WHERE message_id = ? ORDER BY position",
            (message_id,))
        found = [(kind, source, json.loads(details or "{}")) for kind, source, details in rows.fetchall()]
    return prompt or "", [(k, s, d.get("number", 0), d.get("locator", "")) for k, s, d in found]


def sources_block(stdout: str) -> list[str]:
    """The lines of the "Sources:" block printed after the answer (empty when there is none)."""
    _, found, block = stdout.rpartition(f"\n{documents.SOURCES_HEADING}\n")
    return block.strip().splitlines() if found else []


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = doc_corpus.corpus(tmp_path / "my documents")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)  # skipped, with why
    return folder


def test_docs_add_list_search_update_and_remove(tmp_path: Path, corpus: Path) -> None:
    home = tmp_path / "home"
    added = run(home, "docs", "add", str(corpus), str(tmp_path / "no such folder"))
    assert added.returncode == 1, added.stderr  # one path refused: named, the rest indexed
    assert "no such folder" in added.stderr
    for name in ("harbour_report.pdf", "orchard_minutes.docx", "field_notes.md", "recipes.html"):
        assert f"indexed {corpus / name}" in added.stderr
    assert f"skipped {corpus / 'broken.pdf'}: " in added.stderr
    assert "Done: indexed 4 files" in added.stderr and "1 skipped" in added.stderr

    listed = run(home, "docs", "list")
    assert listed.returncode == 0
    assert f"{corpus}/" in listed.stdout and "1 source, 4 files" in listed.stdout
    assert f"{corpus / 'broken.pdf'}: " in listed.stdout  # the problem and its reason

    # Each fact is found in its file, at its page or section, in other words than the passage's.
    for fact in doc_corpus.FACTS:
        found = run(home, "docs", "search", "-k", "3", fact.question)
        assert found.returncode == 0, found.stderr
        first = found.stdout.splitlines()[0]
        assert first == f"1. {fact.file}, {fact.where}", (fact.question, found.stdout)
        assert fact.answer in found.stdout
        assert "hybrid search:" in found.stderr

    # Changed, added and removed files are picked up; unchanged ones are not read again.
    notes = corpus / "field_notes.md"
    notes.write_text(notes.read_text() + "\n## Supplies\n\nThe expedition carried 19 tins of Orvak tea.\n")
    (corpus / "lanterns.md").write_text("# Lanterns\n\nThe Sellund lantern burns whale oil.\n")
    (corpus / "recipes.html").unlink()
    updated = run(home, "docs", "update")
    assert updated.returncode == 0, updated.stderr
    assert f"indexed {notes}" in updated.stderr and f"indexed {corpus / 'lanterns.md'}" in updated.stderr
    assert f"removed {corpus / 'recipes.html'}" in updated.stderr
    assert f"indexed {corpus / 'harbour_report.pdf'}" not in updated.stderr
    assert "unchanged" in updated.stderr
    tea = run(home, "docs", "search", "-k", "1", "how many tins of tea did they take")
    assert tea.stdout.startswith("1. field_notes.md, “Field notes › Supplies”"), tea.stdout
    soup = run(home, "docs", "search", "--mode", "bm25", "Mirelka soup")
    assert "recipes.html" not in soup.stdout

    removed = run(home, "docs", "remove", "my documents")  # by its name, as `docs list` shows it
    assert removed.returncode == 0, removed.stderr
    assert f"Removed {corpus}" in removed.stdout
    assert run(home, "docs", "list").stdout.startswith("No documents yet.")
    assert run(home, "docs", "remove", "my documents").returncode == 1


def test_ask_docs_tells_the_model_the_numbered_passages_then_prints_the_sources(
    tmp_path: Path, corpus: Path, smollm2_path: Path
) -> None:
    home = tmp_path / "home"
    assert run(home, "docs", "add", str(corpus)).returncode == 0
    fact = doc_corpus.KEEPER
    result = run(home, "ask", "--docs", fact.question, model=str(smollm2_path))
    assert result.returncode == 0, result.stderr
    assert "Searching your documents" in result.stderr
    prompt, groundings = asked(home)
    # The model was told the page that holds the fact, numbered, with its file and page.
    passages = [(source, number, where) for kind, source, number, where in groundings if kind == "passage"]
    assert passages[0] == (fact.file, 1, fact.where)
    assert prompt.startswith(f"{documents.SOURCES_HEADING}\n\n[1] {fact.file}, {fact.where}\n")
    assert "Orsolya Brandtner" in prompt
    assert prompt.endswith(f"Question: {fact.question}\n\n{documents.DOCUMENTS_INSTRUCTION}")
    # The answer comes first; a Sources block, when the answer has sources, names only passages told.
    answer = stored_messages(home / "data")[-1]
    assert answer[0] == "assistant" and answer[2] == "complete"
    assert result.stdout.startswith(answer[1].strip()[:20])
    told = {f"[{number}] {source}, {locator}" for _, source, number, locator in groundings if number}
    assert set(sources_block(result.stdout)) <= told


def test_ask_docs_about_something_the_documents_do_not_hold_says_so_without_a_model(
    tmp_path: Path, corpus: Path
) -> None:
    home = tmp_path / "home"
    assert run(home, "docs", "add", str(corpus)).returncode == 0
    # No model could answer: the model setting names a file that does not exist.
    result = run(home, "ask", "--docs", doc_corpus.UNCOVERED, model=str(tmp_path / "absent.gguf"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == documents.NOT_COVERED
    assert documents.SOURCES_HEADING not in result.stdout
    _, groundings = asked(home)
    assert [kind for kind, *_ in groundings] == ["search"]  # what was searched, shown in the window
    assert stored_messages(home / "data")[-1] == ("assistant", documents.NOT_COVERED, "complete")

    absent = str(tmp_path / "absent.gguf")
    empty = run(tmp_path / "empty", "ask", "--docs", "What is in my files?", model=absent)
    assert empty.returncode == 0 and empty.stdout.strip() == documents.NO_DOCUMENTS
    refused = run(home, "ask", "--docs")
    assert refused.returncode == 2 and "assistant ask --docs TEXT" in refused.stderr


def test_ask_doc_reads_a_short_file_whole_and_a_long_one_for_the_passages_that_answer(
    tmp_path: Path, smollm2_path: Path
) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "files"
    folder.mkdir()
    recipes = doc_corpus.recipes(folder)
    short = run(home, "ask", "--doc", str(recipes), doc_corpus.SOUP.question, model=str(smollm2_path))
    assert short.returncode == 0, short.stderr
    assert "Reading recipes.html" in short.stderr
    prompt, groundings = asked(home)
    told = [(source, number) for kind, source, number, _ in groundings if kind == "passage"]
    assert told == [("recipes.html", 1), ("recipes.html", 2)]
    assert "Knead the dough" in prompt and "simmer for 37 minutes" in prompt  # the whole file

    survey = doc_corpus.long_report(folder)
    fact = doc_corpus.LONG_FACT
    long = run(home, "ask", "--doc", str(survey), fact.question, model=str(smollm2_path), context_size=2048)
    assert long.returncode == 0, long.stderr
    prompt, groundings = asked(home)
    pages = [locator for kind, _, _, locator in groundings if kind == "passage"]
    assert fact.where in pages and len(pages) < 40  # retrieved from, not cut
    assert "2,417 metres" in prompt
    assert set(sources_block(long.stdout)) <= {f"[{n}] {s}, {loc}" for _, s, n, loc in groundings if n}


def test_plain_ask_still_answers_without_documents(tmp_path: Path, smollm2_path: Path) -> None:
    result = run(tmp_path / "home", "ask", "What is the capital of France?", model=str(smollm2_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and documents.SOURCES_HEADING not in result.stdout
    _, groundings = asked(tmp_path / "home")
    assert groundings == []
