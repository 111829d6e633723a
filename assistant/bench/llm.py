"""`assistant bench llm`: what the engine process costs and what prefix reuse saves, in one run.

(a) Time to first token at turn 1 and turn N of a growing conversation through the real engine
    process, prefix reuse on and off on identical prompts (the OFF run replays the ON run's answers).
(b) Decode tokens/s as the app sees it (token events arriving in this process) against raw
    llama-cpp-python `create_completion(stream=True)` in this process: same model, threads, prompt.
Every number is the median of several runs after a warm-up; ratios compare numbers from this run.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant import settings
from assistant.host.client import EngineClient, load_model
from assistant.host.messages import ChatRequest, Done, EngineConfig, Failed, Token
from assistant.models import catalog
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats

logger = logging.getLogger(__name__)

QUESTIONS = """What is a prime number?
Is 91 prime?
What is the next prime after 91?
How do I check primality in Python?
What is the time complexity of that?
Can you make it faster?
What is the sieve of Eratosthenes?
How much memory does it use?
What about segmented sieves?
Summarise what we discussed in one sentence.
Thanks. One more: what is a Mersenne prime?
Name the largest known one.""".splitlines()
ANSWER = (
    "Good question. In short: the answer depends on the numbers involved, and the usual approach is "
    "to test divisibility by small primes up to the square root, which is quick for numbers of this "
    "size. I can show a short example in Python if that helps."
)
COUNT_PROMPT = "Count from 1 to 300, separated by commas. Write every number, do not skip any."
GREEDY = dict(temperature=0.0, top_p=1.0, seed=0)


def conversation(turn: int, session: str, answers: list[str]) -> list[ChatMessage]:
    """System prompt + `turn` user questions with the given answers in between (newest question last)."""
    # The session marker sits at the very start so turn 1 of each run never reuses the previous run.
    messages = [ChatMessage("system", f"Session {session}. {settings.DEFAULT_SYSTEM_PROMPT}")]
    for index in range(turn):
        if index:
            messages.append(ChatMessage("assistant", answers[index - 1]))
        messages.append(ChatMessage("user", QUESTIONS[index % len(QUESTIONS)]))
    return messages


def _chat_timed(
    engine: EngineClient, config: EngineConfig, messages: list[ChatMessage], options: GenerationOptions
) -> tuple[list[float], GenerationStats, str]:
    """Arrival times (seconds after the request was sent) of each Token event, stats, and the text."""
    arrivals: list[float] = []
    pieces: list[str] = []
    started = time.perf_counter()
    for event in engine.stream(ChatRequest(config, tuple(messages), options)):
        if isinstance(event, Token):
            arrivals.append(time.perf_counter() - started)
            pieces.append(event.text)
        elif isinstance(event, Failed):
            raise RuntimeError(f"engine failed: {event.message}")
        elif isinstance(event, Done):
            return arrivals, event.stats, "".join(pieces)
    raise RuntimeError("no terminal event")


def _decode_rate(arrivals: list[float]) -> float:
    if len(arrivals) < 2 or arrivals[-1] <= arrivals[0]:
        return 0.0
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def _ttft_runs(
    engine: EngineClient, config: EngineConfig, turns: int, runs: int, answer_tokens: int
) -> dict[str, Any]:
    """Three series per run, medians over runs.

    own:   reuse ON as the app uses it: every turn answers in full, and that answer (already in the
           KV cache) is part of the next prompt.
    off:   reuse OFF on the very same prompts (the ON series' answers replayed as fixed text).
    fixed: reuse ON with a canned answer the model did not write, so each turn must also evaluate
           the previous answer: the worst case for reuse.
    """
    full = GenerationOptions(max_tokens=answer_tokens, **GREEDY)
    first_only = GenerationOptions(max_tokens=4, **GREEDY)
    on, off = dataclasses.replace(config, prefix_reuse=True), dataclasses.replace(config, prefix_reuse=False)
    series: dict[str, list[list[tuple[float, GenerationStats]]]] = {"own": [], "off": [], "fixed": []}
    for run in range(runs):
        answers: list[str] = []
        samples: dict[str, list[tuple[float, GenerationStats]]] = {key: [] for key in series}
        for turn in range(1, turns + 1):
            arrivals, stats, text = _chat_timed(engine, on, conversation(turn, f"r{run}", answers), full)
            samples["own"].append((arrivals[0] if arrivals else float("nan"), stats))
            answers.append(text)
        for key, cfg, texts, session in (
            ("off", off, answers, f"r{run}"),
            ("fixed", on, [ANSWER] * turns, f"f{run}"),
        ):
            for turn in range(1, turns + 1):
                arrivals, stats, _ = _chat_timed(engine, cfg, conversation(turn, session, texts), first_only)
                samples[key].append((arrivals[0] if arrivals else float("nan"), stats))
        for key, values in samples.items():
            series[key].append(values)
            logger.debug(
                "run %d %s: first token ms per turn %s", run, key, [round(v[0] * 1000) for v in values]
            )
    result: dict[str, Any] = {}
    for key, runs_ in series.items():
        first = statistics.median(r[0][0] for r in runs_)
        last = statistics.median(r[-1][0] for r in runs_)
        result[key] = {
            "turn1_s": first,
            "turnN_s": last,
            "ratio": last / first if first else float("nan"),
            "prompt_tokens_turnN": runs_[-1][-1][1].prompt_tokens,
            "reused_tokens_turnN": runs_[-1][-1][1].reused_tokens,
        }
    return result


def _decode_compare(
    engine: EngineClient, config: EngineConfig, path: Path, max_tokens: int, runs: int
) -> dict[str, Any]:
    """Decode rate in the app vs raw llama-cpp-python in this process, runs interleaved.

    Interleaving (ABBA order) makes both sides share whatever else the machine is doing, so the
    ratio survives a noisy machine even when the absolute numbers do not.
    """
    from assistant.engines.llama import LlamaChatModel  # the engine module owns the ML import

    messages = [ChatMessage("system", settings.DEFAULT_SYSTEM_PROMPT), ChatMessage("user", COUNT_PROMPT)]
    options = GenerationOptions(max_tokens=max_tokens, **GREEDY)
    raw_model = LlamaChatModel.load(path, config.context_size, config.threads, config.gpu_layers)
    # Same prompt tokens and stop strings as the engine builds for this conversation.
    _fitted, tokens, _template, stops = raw_model.prepare(messages, max_tokens)

    def raw_run() -> list[float]:
        """Baseline: llama-cpp-python's own streaming loop, nothing of ours in between."""
        arrivals: list[float] = []
        started = time.perf_counter()
        stream: Iterator[Any] = raw_model.llm.create_completion(
            tokens, max_tokens=max_tokens, stop=stops, stream=True, **GREEDY
        )
        for chunk in stream:
            if chunk["choices"][0]["text"]:
                arrivals.append(time.perf_counter() - started)
        return arrivals

    app: list[tuple[float, int, float]] = []
    raw: list[float] = []
    try:
        for index in range(runs + 1):  # the first round warms both up
            for side in ("app", "raw") if index % 2 else ("raw", "app"):
                time.sleep(0.3)  # let the other side's worker threads go idle
                if side == "app":
                    arrivals, stats, _text = _chat_timed(engine, config, messages, options)
                    app.append((_decode_rate(arrivals), len(arrivals), stats.decode_tokens_per_s))
                else:
                    raw.append(_decode_rate(raw_run()))
    finally:
        raw_model.close()
    app, raw = app[1:], raw[1:]
    app_rate, raw_rate = statistics.median(r[0] for r in app), statistics.median(raw)
    logger.debug("decode tokens/s: app %s raw %s", [round(r[0], 1) for r in app], [round(r, 1) for r in raw])
    return {
        "pieces": app[-1][1],
        "runs": len(app),
        "in_app_tps": app_rate,
        "engine_side_tps": statistics.median(r[2] for r in app),
        "raw_tps": raw_rate,
        "ratio": app_rate / raw_rate if raw_rate else float("nan"),
    }


def _rss_mb(pid: int | None, field: str = "VmRSS") -> float:
    if pid is None:
        return float("nan")
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_llm_bench(
    model: str,
    threads: int,
    data_dir: Path,
    turns: int = 10,
    runs: int = 3,
    context_size: int = 4096,
    max_tokens: int = 128,
    answer_tokens: int = 48,
) -> dict[str, Any]:
    config = EngineConfig(
        model=model, data_dir=str(data_dir), context_size=context_size, threads=threads, prefix_reuse=True
    )
    result: dict[str, Any] = dict(
        model=model, threads=threads, turns=turns, runs=runs, answer_tokens=answer_tokens
    )
    with EngineClient(stop_timeout_s=30.0) as engine:
        loaded = load_model(engine, config)
        if isinstance(loaded, Failed):
            raise RuntimeError(loaded.message)
        result["load_s"] = loaded.seconds
        result["engine_rss_mb_after_load"] = _rss_mb(engine.engine_pid)
        _chat_timed(engine, config, conversation(1, "warm-up", []), GenerationOptions(max_tokens=8, **GREEDY))
        result["ttft"] = _ttft_runs(engine, config, turns, runs, answer_tokens)

        # The engine has assembled and verified the file already; this only looks it up.
        path = catalog.ensure_model(catalog.find_model(model, data_dir), data_dir)
        # Decode runs are short and the machine's noise is larger than the effect: use at least 5.
        result["decode"] = _decode_compare(engine, config, path, max_tokens, max(runs, 5))
        result["engine_rss_mb_peak"] = _rss_mb(engine.engine_pid, "VmHWM")
    return result


def format_llm_bench(result: dict[str, Any]) -> str:
    ttft, decode = result["ttft"], result["decode"]
    turns = result["turns"]
    lines = [
        f"LLM benchmark: {result['model']} (threads={result['threads'] or 'auto'}, "
        f"median of {result['runs']} runs)",
        f"  load {result['load_s']:.2f} s; engine process RSS after load "
        f"{result['engine_rss_mb_after_load']:.0f} MB, peak {result['engine_rss_mb_peak']:.0f} MB",
        "",
        f"  time to first token           turn 1   turn {turns:<3}  turn{turns}/turn1  prompt/reused tokens",
    ]
    rows = (
        ("own", "reuse ON  (app: own answers)"),
        ("off", "reuse OFF (same prompts)    "),
        ("fixed", "reuse ON  (canned answers)  "),
    )
    for key, label in rows:
        row = ttft[key]
        lines.append(
            f"  {label} {row['turn1_s'] * 1000:6.0f} ms {row['turnN_s'] * 1000:7.0f} ms"
            f"   {row['ratio']:6.2f}x      {row['prompt_tokens_turnN']}/{row['reused_tokens_turnN']}"
        )
    off, on = ttft["off"]["turnN_s"], ttft["own"]["turnN_s"]
    lines += [
        f"  target: turn{turns}/turn1 <= 1.2 with reuse ON (app) -> "
        f"{'met' if ttft['own']['ratio'] <= 1.2 else 'NOT met'}; at turn {turns} reuse is "
        f"{off / on:.1f}x faster to the first token than no reuse",
        f"  (answers up to {result['answer_tokens']} tokens; 'canned' answers were not written by the model,"
        " so each turn must also read the previous answer)",
        "",
        f"  decode ({decode['pieces']} pieces, greedy, {decode['runs']} interleaved runs)   tokens/s",
        f"  raw llama-cpp-python (this process)  {decode['raw_tps']:7.1f}",
        f"  in app (events through the engine)   {decode['in_app_tps']:7.1f}"
        f"   (engine side {decode['engine_side_tps']:.1f})",
        f"  in-app / raw                          {decode['ratio']:6.3f}   (target >= 0.95 -> "
        f"{'met' if decode['ratio'] >= 0.95 else 'NOT met'})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench llm", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="catalogue name or .gguf path (default: the catalogue default)"
    )
    parser.add_argument("--threads", type=int, default=0, help="0: one per physical core")
    parser.add_argument("--turns", type=int, default=10, help="conversation length for time to first token")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per number (median)")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens per decode run")
    args = parser.parse_args(argv)
    try:
        model = args.model or catalog.default_model("chat").name
        result = run_llm_bench(
            model,
            args.threads,
            settings.data_dir(),
            turns=args.turns,
            runs=args.runs,
            max_tokens=args.max_tokens,
        )
    except (RuntimeError, catalog.ModelError) as error:
        sys.stderr.write(f"bench llm: {error}\n")
        return 1
    sys.stdout.write(format_llm_bench(result) + "\n")
    return 0
