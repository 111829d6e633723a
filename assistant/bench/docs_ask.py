"""`assistant bench docs --parts ask`: what asking with your documents costs, Send -> first answer token.

Each question of the generated corpus (`bench.docs_corpus`, indexed first, untimed) is asked twice
through the real engine process, the way the window and `ask --docs` ask: *with documents* (the
window's `GroundingJob` searches the library in the engine, numbers the passages that fit, then
`ChatSession` sends the grounded question) and *without* (the same question, plain). The order
alternates from question to question so both share whatever else the machine is doing, and every
question is new to the model, so neither is helped by the other's KV cache beyond the system prompt.

Beside them, llama-cpp-python in this process on the same GGUF is given the very messages the app sent
(system prompt and the grounded question; system prompt and the plain one) and timed to its first
streamed token: the app's own cost over the library on the same input. The difference between the
two sides is mostly the passages' prompt tokens; the search itself (embed the question, BM25, vectors,
fusion) is printed apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_QUESTIONS = 8


@dataclass
class Asked:
    """One question asked one way, timed from Send."""

    grounded_s: float = 0.0  # the search and the passages' plan were done (0 without documents)
    first_s: float = 0.0  # the first answer token came
    prompt_tokens: int = 0
    passages: int = 0
    raw_first_s: float = 0.0  # llama-cpp-python, the same messages, to its first token


def _median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.0f} ms" if values else "      - ms"


def run_ask(work: Path, *, model: str = "", threads: int = 0, questions: int = DEFAULT_QUESTIONS
            ) -> list[str]:
    """Index the generated corpus in `work`, then ask `questions` of its questions both ways."""
    import llama_cpp  # benchmarks compare against the raw library on purpose (see test_architecture)

    from assistant import settings as settings_module
    from assistant.bench.docs_corpus import write_corpus
    from assistant.bench.first_token import FirstToken
    from assistant.bench.qa import model_file
    from assistant.chat.grounding_job import GroundingJob
    from assistant.chat.session import ChatSession
    from assistant.host.client import EngineClient, Inbox, load_model
    from assistant.host.messages import Failed, IndexDocumentsRequest
    from assistant.prompt.grounding import passages

    settings = settings_module.Settings(threads=threads, model=model, temperature=0.0, max_answer_tokens=16)
    model_dir = settings_module.data_dir()  # where the bundled chat model is assembled (once)
    library_dir = work / "data"  # the documents library (and its embedding model), thrown away after
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    asked_questions = write_corpus(corpus)[:questions]

    inbox = Inbox()  # handlers run on this thread, as on the window's GUI thread
    # A busy machine may take seconds to notice the stop after the first token: not a reason to kill it.
    client = EngineClient(inbox.deliver, stop_timeout_s=60.0)
    with_docs: list[Asked] = []
    without: list[Asked] = []
    try:
        client.start()
        indexing = IndexDocumentsRequest(str(library_dir), add=(str(corpus),), threads=threads)
        for event in client.stream(indexing):
            if isinstance(event, Failed):
                raise RuntimeError(event.message)
        session = ChatSession(None, client, settings, model_dir)
        loaded = load_model(client, session.engine_config())
        if isinstance(loaded, Failed):
            raise RuntimeError(loaded.message)
        raw = llama_cpp.Llama(model_path=str(model_file(session.model_name(), model_dir)),
                              n_ctx=session.engine_config().context_size, n_threads=threads or None,
                              n_threads_batch=threads or None, verbose=False)

        def ask(question: str, documents: bool) -> Asked:
            asked = Asked()
            started = time.perf_counter()
            grounded = None
            if documents:
                job = GroundingJob(client, settings, library_dir, [], question, use_documents=True)
                job.start()
                inbox.pump_until(lambda: job.finished)
                grounded = job.last_update.result
                if grounded is None:
                    raise RuntimeError(job.last_update.error or "the documents were not searched")
                asked.grounded_s = time.perf_counter() - started
                asked.passages = len(passages(grounded.groundings))
            answer = FirstToken()
            session.send(None, question, grounded=grounded, on_event=answer)
            inbox.pump_until(lambda: answer.at is not None or answer.error is not None)
            if answer.error is not None:
                raise RuntimeError(answer.error)
            asked.first_s = answer.at - started  # type: ignore[operator]
            session.stop()
            inbox.pump_until(lambda: session.active_turn is None)
            if answer.finished is not None:
                asked.prompt_tokens = answer.finished.timings.get("prompt_tokens", 0)
            # The library on the very messages the app sent (system prompt + the question as sent).
            messages = [{"role": "system", "content": settings.system_prompt},
                        {"role": "user", "content": grounded.prompt if grounded else question}]
            raw.reset()  # no cache from the app's side or the previous question
            raw_started = time.perf_counter()
            for _ in raw.create_chat_completion(messages, temperature=0.0, max_tokens=1, stream=True):
                asked.raw_first_s = time.perf_counter() - raw_started
                break
            return asked

        ask(asked_questions[0].text, True)  # warm: the embedding model and the first search load
        for index, question in enumerate(asked_questions[1:]):
            order = (True, False) if index % 2 == 0 else (False, True)
            for documents in order:
                (with_docs if documents else without).append(ask(question.text, documents))
        raw.close()
    finally:
        client.shutdown()
    return _lines(session.model_name(), threads, with_docs, without)


def _lines(model: str, threads: int, with_docs: list[Asked], without: list[Asked]) -> list[str]:
    def tokens(rows: list[Asked]) -> str:
        return f"{statistics.median([r.prompt_tokens for r in rows]):.0f}" if rows else "-"

    first_with = statistics.median([a.first_s for a in with_docs])
    first_without = statistics.median([a.first_s for a in without])
    raw_with = statistics.median([a.raw_first_s for a in with_docs])
    raw_without = statistics.median([a.raw_first_s for a in without])
    return [
        f"Ask with documents -> first answer token, {model}, threads={threads or 'auto'}, "
        f"{len(with_docs)} questions each way (medians; through the engine process)",
        f"  with documents: search + plan {_median_ms([a.grounded_s for a in with_docs])}, first token "
        f"{_median_ms([a.first_s for a in with_docs])} ({tokens(with_docs)} prompt tokens, "
        f"{statistics.median([a.passages for a in with_docs]):.0f} passages)",
        f"  without:                             first token {_median_ms([a.first_s for a in without])} "
        f"({tokens(without)} prompt tokens)",
        f"  documents cost {first_with / first_without:.2f}x the plain question's wait "
        f"(+{(first_with - first_without) * 1000:.0f} ms)",
        f"  llama-cpp-python, the same messages: with {raw_with * 1000:.0f} ms, without "
        f"{raw_without * 1000:.0f} ms (app / library: {first_with / raw_with:.2f}x with documents, "
        f"{first_without / raw_without:.2f}x without)",
    ]


def main(argv: list[str] | None = None) -> int:
    """`--parts ask` here (`--model`, `--questions`); every other part and option goes to `bench.docs`."""
    from assistant.bench import docs

    parser = argparse.ArgumentParser(prog="assistant bench docs", add_help=False)
    parser.add_argument("--parts", default="index,query,recall,ask")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--model", default="", help="the chat model of --parts ask (default: automatic)")
    parser.add_argument("--questions", type=int, default=DEFAULT_QUESTIONS + 1,
                        help="questions of --parts ask (the first warms the search up)")
    args, rest = parser.parse_known_args(argv)
    parts = args.parts.split(",")
    others = [p for p in parts if p != "ask"]
    code = 0
    if others:
        code = docs.main([*rest, "--parts", ",".join(others), "--threads", str(args.threads)])
    if "ask" in parts:
        with tempfile.TemporaryDirectory(prefix="bench-docs-ask-") as temp:
            for line in run_ask(Path(temp), model=args.model, threads=args.threads, questions=args.questions):
                print(line, flush=True)
    return code
