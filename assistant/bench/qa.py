"""`assistant bench qa`: plain factual questions through the app against raw llama-cpp-python greedy.

For each model and question file, in one run: every question of `tests/data/factual_qa.json` and of
`factual_qa_harder.json` (both held out: nothing was tuned on them) is asked through the app as a user
asks it, `assistant ask` in a fresh process (the CLI, the session, the engine process, the automatic
model and sampling settings), and through the plain library
in this process: `Llama(...).create_chat_completion` with only the question and temperature 0, the
greedy baseline of someone who calls llama-cpp-python directly. Both get the same answer length,
threads and context, and the questions alternate between them so both meet the same machine load.
An answer is right when one of the accepted answers occurs (whole words, case and accents ignored)
before any listed wrong one ("Canberra, not Sydney" is right, "Sydney" is not).

Printed per model: right answers app / raw, decode tokens/s (the app's from its stored timings, the
library's from its stream, counted alike), the model's download size and RAM need (the catalogue) and
the seconds each side took (the app's include starting a process and loading the model per question).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.history.store import Store
from assistant.models import catalog
from assistant.resources_path import app_root

QUESTIONS = app_root() / "tests" / "data" / "factual_qa.json"
HARDER = QUESTIONS.with_name("factual_qa_harder.json")  # less common facts: what a larger model gains
QWEN_MODELS = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
MAX_TOKENS = 64  # a factual answer is a sentence; both sides stop here


@dataclass(frozen=True)
class Question:
    text: str
    accept: tuple[str, ...]
    wrong: tuple[str, ...] = ()


@dataclass
class Run:
    """One side's answers to every question, in order."""

    answers: list[str] = field(default_factory=list)
    right: list[bool] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> int:
        return sum(self.right)

    @property
    def median_tokens_per_s(self) -> float:
        rates = [r for r in self.tokens_per_s if r > 0]
        return statistics.median(rates) if rates else 0.0


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [Question(item["q"], tuple(item["accept"]), tuple(item.get("wrong", ())))
            for item in data["questions"]]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _first(answer: str, words: Sequence[str]) -> int | None:
    positions = []
    for word in words:
        found = re.search(r"(?<![a-z0-9])" + re.escape(_fold(word)) + r"(?![a-z0-9])", answer)
        if found:
            positions.append(found.start())
    return min(positions) if positions else None


def is_right(answer: str, question: Question) -> bool:
    folded = _fold(answer)
    right, wrong = _first(folded, question.accept), _first(folded, question.wrong)
    return right is not None and (wrong is None or right < wrong)


# ---- both sides, question by question -----------------------------------------------------------------


def compare(model: str, questions: Sequence[Question], data_dir: Path, *, threads: int = 1,
            max_tokens: int = MAX_TOKENS, context_size: int = 2048, timeout_s: float = 300
            ) -> tuple[Run, Run]:
    """(app, raw) answers to every question, asked alternately (app, raw, app, raw…) so both sides
    share whatever else the machine is doing. `data_dir` is the app's data folder: its history keeps
    the answers (with their timings and sampling) and a bundled model assembled there is reused."""
    import llama_cpp  # benchmarks compare against the raw library on purpose (see test_layering)

    app, raw = Run(), Run()
    path = model_file(model, data_dir)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=context_size, n_threads=threads,
                          n_threads_batch=threads, verbose=False)
    try:
        with tempfile.TemporaryDirectory(prefix="assistant-bench-qa-") as config_dir:
            settings = {"model": model, "threads": threads, "max_answer_tokens": max_tokens,
                        "context_size": context_size, "first_run_done": True}
            Path(config_dir, "settings.json").write_text(json.dumps(settings), encoding="utf-8")
            env = os.environ | {"ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_CONFIG_DIR": config_dir,
                                "HF_HUB_OFFLINE": "1"}
            for question in questions:
                started = time.perf_counter()
                _ask_app(question, env, app, data_dir, timeout_s)
                app.seconds += time.perf_counter() - started
                started = time.perf_counter()
                _ask_raw(llm, question, raw, max_tokens)
                raw.seconds += time.perf_counter() - started
    finally:
        llm.close()
    return app, raw


def _ask_app(question: Question, env: dict[str, str], run: Run, data_dir: Path, timeout_s: float) -> None:
    """`assistant ask` as a user types it: a fresh process, the settings file, nothing else."""
    result = subprocess.run([sys.executable, "-m", "assistant", "ask", question.text], capture_output=True,
                            text=True, encoding="utf-8", env=env, timeout=timeout_s, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"assistant ask failed ({result.returncode}): {result.stderr.strip()}")
    answer = result.stdout.strip()
    with Store(data_dir / "history.sqlite3") as store:  # what the app stored with the answer
        stored = store.messages(store.list_conversations()[0].id)[-1]
    run.answers.append(answer)
    run.right.append(is_right(answer, question))
    run.tokens_per_s.append(float(stored.timings.get("tokens_per_s", 0.0)))
    seed = (stored.sampling or {}).get("seed")
    run.seeds.append(int(seed) if isinstance(seed, int) else -1)


def _ask_raw(llm: Any, question: Question, run: Run, max_tokens: int) -> None:
    """The plain library as its README shows it: the question as the only message, temperature 0."""
    arrivals: list[float] = []
    pieces: list[str] = []
    asked = time.perf_counter()
    for chunk in llm.create_chat_completion(messages=[{"role": "user", "content": question.text}],
                                            temperature=0.0, max_tokens=max_tokens, stream=True):
        text = chunk["choices"][0]["delta"].get("content") or ""
        if text:
            arrivals.append(time.perf_counter() - asked)
            pieces.append(text)
    ended = time.perf_counter() - asked
    answer = "".join(pieces).strip()
    run.answers.append(answer)
    run.right.append(is_right(answer, question))
    # As GenerationStats counts the app's: first token to the end of the stream (the end-of-answer
    # token's step included), one piece per token.
    decode_s = ended - arrivals[0] if arrivals else 0.0
    run.tokens_per_s.append((len(arrivals) - 1) / decode_s if len(arrivals) > 1 and decode_s > 0 else 0.0)


def model_file(model: str, data_dir: Path) -> Path:
    """The model's GGUF, assembled into `data_dir` the way the app does it (once)."""
    return catalog.ensure_model(catalog.find_model(model, data_dir), data_dir)


# ---- the command --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench qa", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append",
                        help="catalogue name or .gguf path; repeat for several (default: both bundled Qwen)")
    parser.add_argument("--questions", type=Path, action="append",
                        help="a questions file (JSON); repeat for several (default: the two held-out sets)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads on both sides (default 1)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                        help=f"longest answer on both sides (default {MAX_TOKENS})")
    parser.add_argument("--data-dir", type=Path,
                        help="where models are assembled and answers stored (default: a fresh folder)")
    parser.add_argument("--show", action="store_true", help="print every answer that was wrong")
    args = parser.parse_args(argv)

    files = args.questions or [QUESTIONS, HARDER]
    with tempfile.TemporaryDirectory(prefix="assistant-bench-qa-data-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        models = args.model or [m for m in QWEN_MODELS
                                if catalog.model_status(catalog.find_model(m, data_dir), data_dir)
                                != catalog.MISSING]
        print(f"{args.threads} thread(s), {args.max_tokens} tokens at most; app = `assistant ask`, a fresh "
              "process per question; raw = llama-cpp-python greedy")
        print(f"{'model':<30} {'questions':<24} {'app':>6} {'raw':>6} {'app t/s':>8} {'raw t/s':>8} "
              f"{'size MB':>8} {'RAM MB':>7} {'app s':>6} {'raw s':>6}")
        for model in models:
            entry = catalog.find_model(model, data_dir)
            size = f"{entry.size / 1e6:.0f}" if entry.size else "?"
            for path in files:
                questions = load_questions(path)
                app, raw = compare(model, questions, data_dir, threads=args.threads,
                                   max_tokens=args.max_tokens)
                total = len(questions)
                print(f"{entry.name:<30} {path.name:<24} {app.score:>3}/{total:<2} {raw.score:>3}/{total:<2} "
                      f"{app.median_tokens_per_s:8.1f} {raw.median_tokens_per_s:8.1f} {size:>8} "
                      f"{entry.ram_mb or '?':>7} {app.seconds:6.0f} {raw.seconds:6.0f}", flush=True)
                if args.show:
                    _show_misses(questions, app, raw)
                print(f"  app seeds: {len(set(app.seeds))} different in {len(app.seeds)} answers", flush=True)
    return 0


def _show_misses(questions: Sequence[Question], app: Run, raw: Run) -> None:
    for question, a_answer, a_ok, r_answer, r_ok in zip(
            questions, app.answers, app.right, raw.answers, raw.right, strict=True):
        if not (a_ok and r_ok):
            print(f"  {question.text}\n    app {'ok ' if a_ok else 'MISS'} {a_answer[:100]!r}\n"
                  f"    raw {'ok ' if r_ok else 'MISS'} {r_answer[:100]!r}")


if __name__ == "__main__":
    sys.exit(main())
