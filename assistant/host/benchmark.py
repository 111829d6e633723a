"""Engine side of the first run: prepare bundled models, and measure a chat model on this machine.

Runs in the engine process, called from its serial request loop (`host/process.py`), so a model that
crashes llama.cpp takes only the engine down, never the window. The benchmark loads the model on its
own (the loop unloads the chat model first: two models side by side may not fit in memory), with a
small context, runs `engines/llama_speed.measure` and closes it again; the next question reloads the
chat model. The work is capped (64 prompt tokens, 32 decoded, a 512-token context, and a deadline of
`budget_s` after the load starts) so one model takes seconds, not minutes: the issue's budget is 15 s
per model on a 2-core machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.host.messages import (
    BenchmarkRequest,
    Done,
    Event,
    ModelBenchmarked,
    PrepareRequest,
    Progress,
)
from assistant.models import catalog, cpu_busy
from assistant.protocols import GenerationStats

if TYPE_CHECKING:  # the engine module imports llama_cpp: only inside a request, never at import
    from assistant.engines.llama_speed import SpeedSample

logger = logging.getLogger(__name__)

CONTEXT_TOKENS = 512  # room for the test; a larger window only makes the load slower and bigger
RERUN_MIN_S = 3.0  # a second run needs this long before the deadline to decode more than a few tokens

Send = Callable[[Event], None]
Cancelled = Callable[[], bool]


def prepare(request: PrepareRequest, send: Send, progress: catalog.Progress) -> None:
    """Assemble/verify one catalogue model (any role); `progress` raises when the request is cancelled."""
    data_dir = Path(request.data_dir)
    entry = catalog.find_model(request.model, data_dir)
    started = time.perf_counter()
    catalog.ensure_model(entry, data_dir, progress)
    send(Done(request.request_id, "complete", GenerationStats(total_s=time.perf_counter() - started)))


def benchmark(
    request: BenchmarkRequest, send: Send, cancelled: Cancelled, progress: catalog.Progress
) -> None:
    """Load, prompt, decode; then ModelBenchmarked and Done (or Done 'stopped' when cancelled)."""
    rid = request.request_id
    started = time.perf_counter()
    data_dir = Path(request.data_dir)
    entry = catalog.find_model(request.model, data_dir)
    if entry.role != "chat":
        raise catalog.ModelError(f"{entry.name} is not a chat model; only chat models are benchmarked")
    path = catalog.ensure_model(entry, data_dir, progress)
    if cancelled():
        send(Done(rid, "stopped", GenerationStats()))
        return
    send(Progress(rid, "load", 0, 1, f"Loading {entry.title}"))
    # Assembly is a one-off of the first start (the panel shows it as its own step); the budget is
    # for what every later measurement costs.
    deadline = time.perf_counter() + request.budget_s
    # The ML library is imported only here, in the engine process.
    from assistant.engines.llama import LlamaChatModel
    from assistant.engines.llama_build import offload_report
    from assistant.engines.llama_speed import measure

    model = LlamaChatModel.load(
        path, context_size=CONTEXT_TOKENS, threads=request.threads, gpu_layers=request.gpu_layers,
        prefix_reuse=False,
    )
    try:
        send(Progress(rid, "benchmark", 0, request.decode_tokens, f"Measuring {entry.title}"))

        def on_token(count: int) -> None:
            if count % 8 == 0:  # a few events per model keep the pipe quiet
                send(Progress(rid, "benchmark", count, request.decode_tokens, f"Measuring {entry.title}"))

        def run() -> SpeedSample | None:
            return measure(model, request.prompt_tokens, request.decode_tokens, cancelled, on_token, deadline)

        sample, busy, runs = _measure_quietly(run, deadline)
        threads = int(getattr(model.llm, "n_threads", request.threads))
        accelerator = offload_report(model.llm)  # the build's backend, its GPU, layers offloaded here
    finally:
        model.close()
    if sample is None:
        send(Done(rid, "stopped", GenerationStats(load_s=model.load_s)))
        return
    total_s = time.perf_counter() - started
    logger.info("Benchmarked %s: load %.2f s, prompt %.0f tok/s, decode %.1f tok/s, %.1f s in all; %s",
                entry.name, model.load_s, sample.prompt_tokens_per_s, sample.decode_tokens_per_s, total_s,
                accelerator.describe())
    measured = ModelBenchmarked(
        request.model, model.load_s, sample.prompt_tokens, sample.prompt_tokens_per_s,
        sample.decode_tokens, sample.decode_tokens_per_s, total_s,
        gpu_offload=accelerator.gpu, gpu_layers=accelerator.offloaded_layers, threads=threads,
        accelerator=accelerator, busy_share=busy, runs=runs,
    )
    stats = GenerationStats(load_s=model.load_s, prompt_tokens=sample.prompt_tokens,
                            completion_tokens=sample.decode_tokens, total_s=total_s)
    send(Done(rid, "complete", stats, result=measured))


def _measure_quietly(run: Callable[[], SpeedSample | None], deadline: float
                     ) -> tuple[SpeedSample | None, float | None, int]:
    """(sample, the CPU share others took meanwhile, runs). A run during which other programs took more
    than `cpu_busy.BUSY_SHARE` of the CPU is measured once more while `RERUN_MIN_S` remain before the
    deadline, and the faster run is kept: others' work only ever slows a run down, so the faster one
    is the nearer to this machine's quiet speed."""
    before = cpu_busy.sample()
    sample = run()
    busy = cpu_busy.others_share(before, cpu_busy.sample())
    if sample is None or busy is None or busy <= cpu_busy.BUSY_SHARE:
        return sample, busy, 1
    if deadline - time.perf_counter() < RERUN_MIN_S:
        logger.info("Measured while others took %.0f%% of the CPU; no time to measure again", busy * 100)
        return sample, busy, 1
    before = cpu_busy.sample()
    again = run()
    busy_again = cpu_busy.others_share(before, cpu_busy.sample())
    logger.info("Busy first run (others %.0f%%, %.1f tok/s); again: others %s, %s tok/s", busy * 100,
                sample.decode_tokens_per_s, "?" if busy_again is None else f"{busy_again * 100:.0f}%",
                "stopped" if again is None else f"{again.decode_tokens_per_s:.1f}")
    if again is None:
        return None, busy_again, 2  # cancelled during the second run
    if again.decode_tokens_per_s > sample.decode_tokens_per_s:
        return again, busy_again, 2
    return sample, busy, 2
