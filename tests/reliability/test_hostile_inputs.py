"""Hostile inputs (issue 15, item 7): chat templates that try to run code (20, the CVE-2024-34359 kind,
none may run: a marker file must not appear, though the same payloads create it in plain Jinja), or
loop for ever; FTS5 query syntax in the history search box and the documents search (no error, and
every hit holds the words typed); file names with newlines, unicode, markup and `..` through drop,
attach, `describe`, `transcribe` and `docs add`."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_files import smollm2_path

from assistant.bench import reliability_faults
from assistant.bench.fault_hostile import BURN_PAYLOADS
from assistant.models.gguf_writer import write_gguf_copy

pytestmark = pytest.mark.timeout(900)
QUICK = reliability_faults.QUICK


def test_twenty_hostile_templates_run_nothing_and_the_answer_still_comes(tmp_path: Path) -> None:
    figure = reliability_faults.hostile_templates(QUICK.templates, tmp_path)
    assert figure.runs == 20
    assert figure.failures == 0, figure.notes
    assert "18 of 18 create their marker when rendered without the sandbox" in figure.figure


def test_a_template_that_loops_for_ever_falls_back_to_chatml(tmp_path: Path) -> None:
    """Regression: nested `range` loops (10^10 steps, all allowed by the sandbox) held the engine until
    the user pressed Stop, on every question to that model."""
    from assistant.engines.llama import LlamaChatModel
    from assistant.protocols import ChatMessage

    looping = tmp_path / "looping.gguf"
    write_gguf_copy(smollm2_path(), looping, {"tokenizer.chat_template": BURN_PAYLOADS[0]})
    model = LlamaChatModel.load(looping, context_size=512, threads=1)
    try:
        prompt, template, _ = model.render([ChatMessage("user", "Say hi.")])
        assert template == "fallback" and "Say hi." in prompt
        assert model.render([ChatMessage("user", "Again.")])[1] == "fallback"  # not tried a second time
    finally:
        model.close()


def test_fts5_syntax_in_the_history_search_box(tmp_path: Path) -> None:
    figure = reliability_faults.fts_history(QUICK.fts_queries, tmp_path)
    assert figure.runs == QUICK.fts_queries
    assert figure.failures == 0, figure.notes


def test_fts5_syntax_in_the_documents_search(tmp_path: Path) -> None:
    figure = reliability_faults.fts_documents(QUICK.fts_queries, tmp_path, cli_runs=1)
    assert figure.runs == QUICK.fts_queries + 1
    assert figure.failures == 0, figure.notes


def test_hostile_file_names(tmp_path: Path) -> None:
    """Includes the regression for markup in a name: a chip showed "<b>x<b>.png" as a bold "x" (and
    asked Qt to load an image "x"); every label that shows a name now shows it as typed."""
    from assistant.bench.fault_hostile import HOSTILE_NAMES

    assert any("<b>" in name for name in HOSTILE_NAMES[:QUICK.names])
    figure = reliability_faults.hostile_names(QUICK.names, tmp_path, cli_runs=QUICK.cli_runs)
    assert figure.failures == 0, figure.notes
