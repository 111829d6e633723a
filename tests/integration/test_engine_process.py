"""The engine process through EngineClient: streaming, Stop, crashes, bad files, restarts."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from model_files import smollm2_path

from assistant.host.client import EngineClient
from assistant.host.messages import Done, EngineConfig, Event, Failed, ModelLoaded, Token
from assistant.protocols import ChatMessage, GenerationOptions

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
    """Collects events from the client's dispatcher thread; tests wait on a condition."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.condition = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.condition:  # called on the client's dispatcher thread
            self.events.append(event)
            self.condition.notify_all()

    def of(self, request_id: int) -> list[Event]:
        with self.condition:
            return [e for e in self.events if e.request_id == request_id]

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 60.0) -> None:
        with self.condition:
            assert self.condition.wait_for(lambda: predicate(self.events), timeout), self.events[-5:]

    def terminal(self, request_id: int, timeout: float = 60.0) -> Done | Failed:
        self.wait_for(
            lambda events: any(e.request_id == request_id and isinstance(e, (Done, Failed)) for e in events),
            timeout,
        )
        ends = [e for e in self.of(request_id) if isinstance(e, (Done, Failed))]
        assert len(ends) == 1, ends
        return ends[0]

    def first_token(self, request_id: int, timeout: float = 60.0) -> None:
        self.wait_for(
            lambda events: any(
                e.request_id == request_id and isinstance(e, (Token, Done, Failed)) for e in events
            ),
            timeout,
        )
        assert any(isinstance(e, Token) for e in self.of(request_id)), self.of(request_id)


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture()
def config(data_dir: Path) -> EngineConfig:
    return EngineConfig(model=str(smollm2_path()), data_dir=str(data_dir), context_size=2048, threads=1)


@pytest.fixture()
def engine() -> Iterator[tuple[EngineClient, Recorder]]:
    recorder = Recorder()
    client = EngineClient(recorder, stop_timeout_s=2.0)
    client.start()
    yield client, recorder
    client.shutdown()


def text_of(recorder: Recorder, request_id: int) -> str:
    return "".join(e.text for e in recorder.of(request_id) if isinstance(e, Token))


def assert_no_second_terminal(recorder: Recorder, request_id: int) -> None:
    time.sleep(0.5)  # give a late Done or a crash report the chance to (wrongly) arrive
    assert len([e for e in recorder.of(request_id) if isinstance(e, (Done, Failed))]) == 1


def test_answer_streams_tokens_then_completes(
    engine: tuple[EngineClient, Recorder], config: EngineConfig
) -> None:
    client, recorder = engine
    rid = client.chat(config, QUESTION, SHORT)
    assert client.busy
    done = recorder.terminal(rid)
    assert isinstance(done, Done) and done.status == "complete"
    kinds = [type(e) for e in recorder.of(rid)]
    assert kinds.index(ModelLoaded) < kinds.index(Token) < kinds.index(Done)
    assert text_of(recorder, rid).strip()
    assert done.stats.completion_tokens > 0 and done.stats.prompt_tokens > 0 and done.stats.load_s > 0
    assert done.stats.template == "gguf"
    assert not client.busy


def test_stop_mid_answer_keeps_the_partial_text(
    engine: tuple[EngineClient, Recorder], config: EngineConfig
) -> None:
    client, recorder = engine
    pid = client.engine_pid
    rid = client.chat(config, LONG, ENDLESS)
    recorder.first_token(rid)
    asked = time.monotonic()
    client.cancel(rid)
    done = recorder.terminal(rid, timeout=5)
    assert time.monotonic() - asked < 2.0
    assert isinstance(done, Done) and done.status == "stopped"
    assert text_of(recorder, rid)
    assert client.engine_pid == pid  # the child answered the Stop itself, nobody was killed
    assert_no_second_terminal(recorder, rid)
    again = client.chat(config, QUESTION, SHORT)
    assert isinstance(recorder.terminal(again), Done)


def test_a_crash_mid_answer_fails_once_then_restarts(
    engine: tuple[EngineClient, Recorder], config: EngineConfig
) -> None:
    client, recorder = engine
    rid = client.chat(config, LONG, ENDLESS)
    recorder.first_token(rid)
    old_pid = client.engine_pid
    client.kill_engine()
    failed = recorder.terminal(rid, timeout=10)
    assert isinstance(failed, Failed) and failed.kind == "crashed"
    assert "stopped unexpectedly" in failed.message and "exit code" in failed.message
    assert_no_second_terminal(recorder, rid)
    again = client.chat(config, QUESTION, SHORT)
    assert client.engine_pid not in (None, old_pid)
    done = recorder.terminal(again)
    assert isinstance(done, Done) and done.status == "complete" and text_of(recorder, again).strip()


def test_bad_model_files_fail_clearly_and_the_engine_survives(
    engine: tuple[EngineClient, Recorder], config: EngineConfig, data_dir: Path
) -> None:
    client, recorder = engine
    source = smollm2_path().read_bytes()
    bad = {
        "truncated.gguf": (source[:4_000_000], "truncated"),
        "random.gguf": (os.urandom(1_000_000), "not a GGUF file"),
        "wrong-magic.gguf": (b"GGML" + source[4:2_000_000], "not a GGUF file"),
    }
    pid = client.engine_pid
    for name, (content, problem) in bad.items():
        path = data_dir / name
        path.write_bytes(content)
        rid = client.chat(EngineConfig(model=str(path), data_dir=str(data_dir)), QUESTION, SHORT)
        failed = recorder.terminal(rid)
        assert isinstance(failed, Failed) and failed.kind == "bad_model", failed
        assert problem in failed.message and name in failed.message
    missing = client.chat(
        EngineConfig(model=str(data_dir / "absent.gguf"), data_dir=str(data_dir)), QUESTION, SHORT
    )
    failed = recorder.terminal(missing)
    assert isinstance(failed, Failed) and failed.kind == "bad_model" and "absent.gguf" in failed.message
    good = client.chat(config, QUESTION, SHORT)
    assert isinstance(recorder.terminal(good), Done)
    assert client.engine_pid == pid


def test_an_unresponsive_engine_is_killed_on_stop_and_restarted(
    engine: tuple[EngineClient, Recorder], config: EngineConfig
) -> None:
    client, recorder = engine
    rid = client.chat(config, LONG, ENDLESS)
    recorder.first_token(rid)
    pid = client.engine_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the child can no longer answer the Stop
    asked = time.monotonic()
    client.cancel(rid)
    done = recorder.terminal(rid, timeout=5)
    assert time.monotonic() - asked < 2.5
    assert isinstance(done, Done) and done.status == "stopped"
    assert_no_second_terminal(recorder, rid)
    again = client.chat(config, QUESTION, SHORT)
    assert client.engine_pid not in (None, pid)
    assert isinstance(recorder.terminal(again), Done)


def test_a_huge_message_fails_as_too_long(
    engine: tuple[EngineClient, Recorder], config: EngineConfig
) -> None:
    client, recorder = engine
    huge = [QUESTION[0], ChatMessage("user", "word " * 200_000)]
    rid = client.chat(config, huge, SHORT)
    failed = recorder.terminal(rid, timeout=30)
    assert isinstance(failed, Failed) and failed.kind == "too_long" and "too long" in failed.message
    again = client.chat(config, QUESTION, SHORT)
    assert isinstance(recorder.terminal(again), Done)
