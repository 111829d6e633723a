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

from assistant.host.messages import (
    BenchmarkRequest,
    Done,
    Event,
    ModelBenchmarked,
    PrepareRequest,
    Progress,
)
from assistant.models import catalog
from assistant.protocols import GenerationStats

logger = logging.getLogger(__name__)

CONTEXT_TOKENS = 512  # room for the test; a larger window only makes the load slower and bigger

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

        sample = measure(model, request.prompt_tokens, request.decode_tokens, cancelled, on_token, deadline)
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
    send(ModelBenchmarked(
        rid, request.model, model.load_s, sample.prompt_tokens, sample.prompt_tokens_per_s,
        sample.decode_tokens, sample.decode_tokens_per_s, total_s,
        gpu_offload=accelerator.gpu, gpu_layers=accelerator.offloaded_layers, threads=threads,
        accelerator=accelerator,
    ))
    stats = GenerationStats(load_s=model.load_s, prompt_tokens=sample.prompt_tokens,
                            completion_tokens=sample.decode_tokens, total_s=total_s)
    send(Done(rid, "complete", stats))
