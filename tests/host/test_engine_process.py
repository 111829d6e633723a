"""The engine process through EngineClient: streaming, Stop, crashes, bad files, restarts, and the
routing contract (each request's events reach only the handler it was sent with, ending with exactly one
Done or Failed)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from model_files import smollm2_path

from assistant.host.client import EngineClient, Ticket
from assistant.host.messages import (
    ChatRequest,
    Done,
    EngineConfig,
    Event,
    Failed,
    ModelLoaded,
    Request,
    Token,
)
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats

pytest.importorskip("llama_cpp")

pytestmark = pytest.mark.timeout(120)

QUESTION = [
    ChatMessage("system", "You are a helpful assistant."),
    ChatMessage("user", "What is the capital of France?"),
]
LONG = [
    ChatMessage("system", "You are a helpful assistant."),
    ChatMessage("user", "Count from 1 to 500, separated by commas. Write every number."),
]
SHORT = GenerationOptions(max_tokens=16, temperature=0.0, seed=0)
ENDLESS = GenerationOptions(max_tokens=1500, temperature=0.0, seed=0)


class Recorder:
    """One request's handler: collects its events (on the client's dispatcher thread); tests wait on a
    condition. With a shared `timeline`, the events of several requests are also kept in the order the
    client delivered them, to check how requests interleave."""

    def __init__(self, timeline: list[Event] | None = None) -> None:
        self.events: list[Event] = []
        self.timeline = timeline
        self.condition = threading.Condition()
        self.ticket: Ticket | None = None

    def __call__(self, event: Event) -> None:
        with self.condition:  # called on the client's dispatcher thread
            self.events.append(event)
            if self.timeline is not None:
                self.timeline.append(event)
            self.condition.notify_all()

    @property
    def request_id(self) -> int:
        assert self.ticket is not None, "not sent"
        return self.ticket.request_id

    def seen(self) -> list[Event]:
        with self.condition:
            return list(self.events)

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 60.0) -> None:
        with self.condition:
            assert self.condition.wait_for(lambda: predicate(self.events), timeout), self.events[-5:]

    def terminal(self, timeout: float = 60.0) -> Done | Failed:
        """The request's one Done or Failed; also checks that nothing of another request came here."""
        self.wait_for(lambda events: any(isinstance(e, (Done, Failed)) for e in events), timeout)
        events = self.seen()
        assert all(e.request_id == self.request_id for e in events), events
        ends = [e for e in events if isinstance(e, (Done, Failed))]
        assert len(ends) == 1, ends
        return ends[0]

    def first_token(self, timeout: float = 60.0) -> None:
        self.wait_for(lambda events: any(isinstance(e, (Token, Done, Failed)) for e in events), timeout)
        assert any(isinstance(e, Token) for e in self.seen()), self.seen()

    def text(self) -> str:
        return "".join(e.text for e in self.seen() if isinstance(e, Token))


def send(client: EngineClient, request: Request, recorder: Recorder | None = None) -> Recorder:
    """Send `request` with a recorder of its own as its handler."""
    recorder = recorder if recorder is not None else Recorder()
    recorder.ticket = client.send(request, recorder)
    return recorder


def chat(messages: list[ChatMessage], options: GenerationOptions, config: EngineConfig) -> ChatRequest:
    return ChatRequest(config, tuple(messages), options)


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture()
def config(data_dir: Path) -> EngineConfig:
    return EngineConfig(model=str(smollm2_path()), data_dir=str(data_dir), context_size=2048, threads=1)


@pytest.fixture()
def engine() -> Iterator[EngineClient]:
    client = EngineClient(stop_timeout_s=2.0)
    client.start()
    yield client
    client.shutdown()


ONE_TOKEN = GenerationOptions(max_tokens=1, temperature=0.0, seed=0)


def settle(client: EngineClient, config: EngineConfig) -> None:
    """Until every event that could still come for the requests so far has been delivered.

    A killed engine's reader thread queues its crash report ("died") when it ends, so that thread is
    waited for; then one more request goes through: the client's one dispatcher delivers in queue order
    and a live engine answers in pipe order, so once its end is delivered, everything before it is.
    """
    gone = client._child  # white-box, like `queued` below: the engine that served the requests
    if gone is not None and not gone.usable():
        reader = f"engine-reader-{gone.generation}"
        wait_until(lambda: all(thread.name != reader for thread in threading.enumerate()))
    marker = send(client, chat(QUESTION, ONE_TOKEN, config))
    assert isinstance(marker.terminal(), Done)


def assert_no_second_terminal(recorder: Recorder) -> None:
    """After `settle`: the request got one end, and nothing after it (a late Done, token or crash)."""
    events = recorder.seen()
    assert len([e for e in events if isinstance(e, (Done, Failed))]) == 1
    assert isinstance(events[-1], (Done, Failed)), events[-3:]  # nothing after the end


def test_answer_streams_tokens_then_completes(engine: EngineClient, config: EngineConfig) -> None:
    answer = send(engine, chat(QUESTION, SHORT, config))
    assert engine.busy
    done = answer.terminal()
    assert isinstance(done, Done) and done.status == "complete"
    kinds = [type(e) for e in answer.seen()]
    assert kinds.index(ModelLoaded) < kinds.index(Token) < kinds.index(Done)
    assert answer.text().strip()
    assert done.stats.completion_tokens > 0 and done.stats.prompt_tokens > 0 and done.stats.load_s > 0
    assert done.stats.template == "gguf"
    assert not engine.busy


def test_stop_mid_answer_keeps_the_partial_text(engine: EngineClient, config: EngineConfig) -> None:
    pid = engine.engine_pid
    answer = send(engine, chat(LONG, ENDLESS, config))
    answer.first_token()
    assert answer.ticket is not None
    answer.ticket.cancel()
    done = answer.terminal()  # how fast is `assistant bench reliability`'s figure (Stop → idle)
    assert isinstance(done, Done) and done.status == "stopped"
    assert answer.text()
    assert engine.engine_pid == pid  # the child answered the Stop itself, nobody was killed
    settle(engine, config)
    assert engine.engine_pid == pid
    assert_no_second_terminal(answer)
    again = send(engine, chat(QUESTION, SHORT, config))
    assert isinstance(again.terminal(), Done)


def test_a_crash_mid_answer_fails_once_then_restarts(engine: EngineClient, config: EngineConfig) -> None:
    answer = send(engine, chat(LONG, ENDLESS, config))
    queued = send(engine, chat(QUESTION, SHORT, config))  # waits behind the answer in the engine
    answer.first_token()
    old_pid = engine.engine_pid
    engine.kill_engine()
    for request in (answer, queued):  # each request in flight gets its own crash report, once
        failed = request.terminal(timeout=10)
        assert isinstance(failed, Failed) and failed.kind == "crashed"
        assert "stopped unexpectedly" in failed.message and "exit code" in failed.message
    settle(engine, config)
    assert_no_second_terminal(answer)
    assert_no_second_terminal(queued)
    assert not any(isinstance(e, Token) for e in queued.seen())
    again = send(engine, chat(QUESTION, SHORT, config))
    assert engine.engine_pid not in (None, old_pid)
    done = again.terminal()
    assert isinstance(done, Done) and done.status == "complete" and again.text().strip()


def test_bad_model_files_fail_clearly_and_the_engine_survives(
    engine: EngineClient, config: EngineConfig, data_dir: Path
) -> None:
    source = smollm2_path().read_bytes()
    bad = {
        "truncated.gguf": (source[:4_000_000], "truncated"),
        "random.gguf": (os.urandom(1_000_000), "not a GGUF file"),
        "wrong-magic.gguf": (b"GGML" + source[4:2_000_000], "not a GGUF file"),
    }
    pid = engine.engine_pid
    for name, (content, problem) in bad.items():
        path = data_dir / name
        path.write_bytes(content)
        answer = send(engine, chat(QUESTION, SHORT, EngineConfig(model=str(path), data_dir=str(data_dir))))
        failed = answer.terminal()
        assert isinstance(failed, Failed) and failed.kind == "bad_model", failed
        assert problem in failed.message and name in failed.message
    missing = send(engine, chat(
        QUESTION, SHORT, EngineConfig(model=str(data_dir / "absent.gguf"), data_dir=str(data_dir))
    ))
    failed = missing.terminal()
    assert isinstance(failed, Failed) and failed.kind == "bad_model" and "absent.gguf" in failed.message
    good = send(engine, chat(QUESTION, SHORT, config))
    assert isinstance(good.terminal(), Done)
    assert engine.engine_pid == pid


def test_an_unresponsive_engine_is_killed_on_stop_and_restarted(
    engine: EngineClient, config: EngineConfig
) -> None:
    answer = send(engine, chat(LONG, ENDLESS, config))
    answer.first_token()
    pid = engine.engine_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the child can no longer answer the Stop
    assert answer.ticket is not None
    answer.ticket.cancel()
    done = answer.terminal()  # the client's own Done, at its stop timeout
    assert isinstance(done, Done) and done.status == "stopped"
    assert done.stats == GenerationStats()  # the client's, not the (frozen) child's
    settle(engine, config)
    assert_no_second_terminal(answer)  # the kill's crash report does not reach the stopped request
    again = send(engine, chat(QUESTION, SHORT, config))
    assert engine.engine_pid not in (None, pid)
    assert isinstance(again.terminal(), Done)


def test_a_huge_message_fails_as_too_long(engine: EngineClient, config: EngineConfig) -> None:
    huge = [QUESTION[0], ChatMessage("user", "word " * 200_000)]
    answer = send(engine, chat(huge, SHORT, config))
    failed = answer.terminal(timeout=30)
    assert isinstance(failed, Failed) and failed.kind == "too_long" and "too long" in failed.message
    again = send(engine, chat(QUESTION, SHORT, config))
    assert isinstance(again.terminal(), Done)


# ---- routing: each request's events reach the handler it was sent with ------------------------------


class RaisingRecorder(Recorder):
    """A faulty handler: records each event, then raises."""

    def __call__(self, event: Event) -> None:
        super().__call__(event)
        raise RuntimeError(f"handler bug at {type(event).__name__}")


def test_two_requests_each_reach_only_their_own_handler_and_a_raising_one_gets_every_event(
    engine: EngineClient, config: EngineConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("ERROR", logger="assistant.host.client")
    timeline: list[Event] = []
    faulty = send(engine, chat(LONG, GenerationOptions(max_tokens=24, temperature=0.0, seed=0), config),
                  RaisingRecorder(timeline))
    steady = send(engine, chat(QUESTION, SHORT, config), Recorder(timeline))  # in flight at the same time
    assert faulty.request_id != steady.request_id
    first, second = faulty.terminal(), steady.terminal()  # terminal() checks every event is its own
    assert isinstance(first, Done) and first.status == "complete"
    assert isinstance(second, Done) and second.status == "complete" and steady.text().strip()
    # The faulty handler raised at every event and still got all of them, its Done included.
    kinds = [type(e) for e in faulty.seen()]
    assert kinds.count(Token) > 1 and faulty.text().strip()
    assert kinds.index(ModelLoaded) < kinds.index(Token) and kinds[-1] is Done
    failures = [r for r in caplog.records if "Event handler failed" in r.getMessage()]
    assert len(failures) == len(kinds)
    # Both handlers ran on the one dispatcher thread: all events, in order, and none twice.
    assert len(timeline) == len(faulty.seen()) + len(steady.seen())
    settle(engine, config)
    assert_no_second_terminal(faulty)
    assert_no_second_terminal(steady)


def queued(client: EngineClient, wanted: Callable[[tuple], bool]) -> bool:
    """Whether the client's dispatcher queue holds an item `wanted` matches (white-box: the test must
    order the child's late answer after the client's Stop timeout without guessing sleeps)."""
    with client._queue.mutex:
        return any(wanted(item) for item in client._queue.queue)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def test_a_late_answer_after_a_stop_timeout_is_dropped(config: EngineConfig) -> None:
    """The child confirms the Stop only after the client gave up on it: the handler gets the client's
    Done('stopped') alone, never the child's own late tokens or Done."""
    gate, blocked = threading.Event(), threading.Event()

    class Gated(Recorder):
        def __call__(self, event: Event) -> None:
            super().__call__(event)
            if isinstance(event, Token) and not blocked.is_set():
                blocked.set()
                gate.wait(60)  # holds the dispatcher thread: later items wait in its queue, in order

    client = EngineClient(stop_timeout_s=0.3)
    try:
        answer = send(client, chat(LONG, ENDLESS, config), Gated())
        assert blocked.wait(60)
        pid = client.engine_pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        assert answer.ticket is not None
        answer.ticket.cancel()
        wait_until(lambda: queued(client, lambda item: item[0] == "cancel_timeout"))
        os.kill(pid, signal.SIGCONT)  # now the child reads the Stop and confirms it: too late
        rid = answer.request_id

        def childs_late_done(item: tuple) -> bool:
            return item[0] == "event" and isinstance(item[2], Done) and item[2].request_id == rid

        wait_until(lambda: queued(client, childs_late_done))
        gate.set()
        done = answer.terminal(timeout=10)
        assert isinstance(done, Done) and done.status == "stopped"
        assert done.stats == GenerationStats()  # the client's, not the child's (which counted tokens)
        settle(client, config)
        assert_no_second_terminal(answer)
        again = send(client, chat(QUESTION, SHORT, config))
        assert client.engine_pid not in (None, pid)  # the late child was killed at the timeout
        assert isinstance(again.terminal(), Done)
    finally:
        gate.set()
        client.shutdown()
