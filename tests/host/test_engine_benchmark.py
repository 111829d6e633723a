"""The first-run benchmark and preparation through a real engine process on SmolLM2-135M."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest
from model_files import smollm2_path

from assistant.host.client import EngineClient, is_terminal, load_model
from assistant.host.messages import (
    BenchmarkRequest,
    Done,
    EngineConfig,
    Event,
    Failed,
    ModelBenchmarked,
    ModelLoaded,
    PrepareRequest,
    Progress,
    Request,
    result_of,
)

pytest.importorskip("llama_cpp")

pytestmark = pytest.mark.timeout(180)

SMOLLM2 = "smollm2-135m-instruct"  # the catalogue entry: a pypi-file model verified in place


def events_of(engine: EngineClient, request: Request) -> list[Event]:
    return list(engine.stream(request))


def test_benchmark_of_a_catalogue_model_reports_positive_speeds(tmp_path: Path) -> None:
    smollm2_path()  # skips when the package is missing
    with EngineClient() as engine:
        events = events_of(engine, BenchmarkRequest(SMOLLM2, str(tmp_path), threads=1))
    done = events[-1]
    assert isinstance(done, Done) and done.status == "complete", events[-3:]
    [result] = [r for e in events if (r := result_of(e, ModelBenchmarked))]
    assert result.model == SMOLLM2
    assert result.load_s > 0
    # 64 and 32, unless a very busy machine hit the deadline (then at least half the prompt and 2 tokens)
    assert result.prompt_tokens in (32, 64) and result.prompt_tokens_per_s > 0
    assert 2 <= result.decode_tokens <= 32 and result.decode_tokens_per_s > 0
    assert result.total_s >= result.load_s
    assert result.threads == 1
    assert result.gpu_offload is (result.gpu_layers != 0)  # a CPU build offloads nothing
    stages = [e.stage for e in events if isinstance(e, Progress)]
    assert "assemble" in stages  # verified in place on first use, with progress
    assert "load" in stages and "benchmark" in stages


def test_a_spent_budget_cuts_the_work_to_the_least_that_gives_rates(tmp_path: Path) -> None:
    smollm2_path()
    with EngineClient() as engine:
        events = events_of(engine, BenchmarkRequest(SMOLLM2, str(tmp_path), threads=1, budget_s=0.0))
    [result] = [r for e in events if (r := result_of(e, ModelBenchmarked))]
    assert (result.prompt_tokens, result.decode_tokens) == (32, 2)
    assert result.prompt_tokens_per_s > 0 and result.decode_tokens_per_s > 0


def test_benchmark_unloads_the_chat_model_and_the_next_question_reloads_it(tmp_path: Path) -> None:
    config = EngineConfig(str(smollm2_path()), str(tmp_path), context_size=1024, threads=1)
    with EngineClient() as engine:
        assert isinstance(load_model(engine, config), ModelLoaded)
        events = events_of(engine, BenchmarkRequest(str(smollm2_path()), str(tmp_path), threads=1))
        assert any(result_of(e, ModelBenchmarked) for e in events)
        reloaded = load_model(engine, config)
        assert isinstance(reloaded, ModelLoaded) and reloaded.seconds > 0  # loaded again, not cached


def test_cancel_stops_a_benchmark_without_a_result(tmp_path: Path) -> None:
    smollm2_path()
    with EngineClient() as engine:
        received: queue.Queue[Event] = queue.Queue()
        ticket = engine.send(BenchmarkRequest(SMOLLM2, str(tmp_path), threads=1), received.put)
        ticket.drop()  # what closing the panel does: no kill deadline
        events = [received.get(timeout=120)]
        while not is_terminal(events[-1]):
            events.append(received.get(timeout=120))
        assert all(e.request_id == ticket.request_id for e in events)
        assert isinstance(events[-1], Done) and events[-1].status == "stopped"
        assert not any(result_of(e, ModelBenchmarked) for e in events)
        # The engine goes on serving.
        again = events_of(engine, BenchmarkRequest(SMOLLM2, str(tmp_path), threads=1))
        assert any(result_of(e, ModelBenchmarked) for e in again)


def test_bad_requests_fail_with_a_message(tmp_path: Path) -> None:
    with EngineClient() as engine:
        unknown = events_of(engine, BenchmarkRequest("no-such-model", str(tmp_path)))
        speech = events_of(engine, BenchmarkRequest("whisper-tiny.en", str(tmp_path)))
        # A model file that is not there (every bundled model's packages are installed by the extras).
        missing = events_of(engine, PrepareRequest(str(tmp_path / "absent.gguf"), str(tmp_path)))
    assert isinstance(unknown[-1], Failed) and "unknown model" in unknown[-1].message
    assert isinstance(speech[-1], Failed) and "not a chat model" in speech[-1].message
    assert isinstance(missing[-1], Failed) and missing[-1].kind == "bad_model"


def test_prepare_verifies_a_bundled_model_with_progress_then_it_is_ready(tmp_path: Path) -> None:
    from assistant.models import catalog

    smollm2_path()
    entry = catalog.find_model(SMOLLM2, tmp_path)
    assert catalog.model_status(entry, tmp_path) == catalog.WILL_ASSEMBLE
    with EngineClient() as engine:
        events = events_of(engine, PrepareRequest(SMOLLM2, str(tmp_path)))
    assert isinstance(events[-1], Done) and events[-1].status == "complete"
    progress = [e for e in events if isinstance(e, Progress) and e.stage == "assemble"]
    assert progress and progress[-1].done == progress[-1].total > 0
    assert catalog.model_status(entry, tmp_path) == catalog.READY
