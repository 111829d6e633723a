"""The QA check of issue 11: plain factual questions through `assistant ask` (a fresh process per
question: the real CLI, engine process, automatic sampling) score at least what the same bundled model
scores called directly with greedy decoding, in the same run. The questions (tests/data/factual_qa.json)
are held out: the sampling rules were chosen on tests/data/factual_qa_tuning.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.bench import qa

pytest.importorskip("llama_cpp")

SMALL_BUNDLED = "qwen2.5-coder-0.5b-instruct"


@pytest.mark.slow
@pytest.mark.timeout(1200)  # 26 fresh processes on two shared cores
def test_the_app_answers_facts_at_least_as_well_as_raw_greedy(shared_data_dir: Path) -> None:
    questions = qa.load_questions()
    app, raw = qa.compare(SMALL_BUNDLED, questions, shared_data_dir, threads=1)
    print(f"\nQA on {SMALL_BUNDLED}: app {app.score}/{len(questions)} (assistant ask), "
          f"raw greedy {raw.score}/{len(questions)} (llama-cpp-python); app {app.seconds:.0f} s, "
          f"raw {raw.seconds:.0f} s")
    for question, answer, right in zip(questions, app.answers, app.right, strict=True):
        if not right:
            print(f"  app missed {question.text!r}: {answer[:80]!r}")
    assert all(answer for answer in app.answers)  # every process answered
    assert app.score >= raw.score
    assert len(set(app.seeds)) == len(questions)  # each answer drew its own seed, and recorded it
