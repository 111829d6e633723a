"""The engine killed for real (issue 15): SIGKILL by pid from outside, and a real segmentation fault
inside the engine process (an injected handler reads address 0 on SIGUSR2), mid-answer,
mid-transcription and mid-OCR, in the real window run as its own process. The window stays, tells the
user what stopped, and the next request starts a new engine that answers."""

from __future__ import annotations

import os
import queue
import signal
from pathlib import Path

import pytest
from model_files import smollm2_path

from assistant.bench import reliability_faults
from assistant.host.client import EngineClient, crash_message, load_model
from assistant.host.messages import ChatRequest, Done, EngineConfig, Failed, LoadRequest, PerceiveRequest

pytestmark = pytest.mark.timeout(900)


def test_killed_mid_answer_transcription_and_ocr_the_window_tells_and_recovers(tmp_path: Path) -> None:
    figure = reliability_faults.engine_crashes(reliability_faults.QUICK.crashes, tmp_path)
    assert figure.failures == 0, figure.notes
    assert figure.runs >= 2, figure.figure  # a kill that came after the work ended is not counted


def test_a_crash_message_says_what_the_engine_was_doing() -> None:
    config = EngineConfig(model="/models/broken.gguf", data_dir="/tmp")
    answer = crash_message(ChatRequest(config, ()), -9)
    assert "SIGKILL" in answer and "answer so far was kept" in answer
    load = crash_message(LoadRequest(config), -6)
    assert "while loading broken.gguf" in load and "SIGABRT" in load and "answer" not in load
    image = crash_message(PerceiveRequest("/home/me/shot.png", "/tmp"), -11)
    assert "while reading shot.png" in image and "SIGSEGV" in image and "answer" not in image
    assert "exit code 3" in crash_message(None, 3)


def test_an_engine_killed_while_loading_reports_a_failed_load_not_a_lost_answer(tmp_path: Path) -> None:
    """Regression: the engine dying under a LoadRequest (a model that aborts llama.cpp, or a kill) was
    reported as "Your answer so far was kept" in the status bar."""
    config = EngineConfig(model=str(smollm2_path()), data_dir=str(tmp_path), context_size=256, threads=1,
                          gpu_layers=0)
    events: queue.Queue = queue.Queue()
    with EngineClient() as client:
        client.start()
        pid = client.engine_pid
        assert pid is not None
        client.send(LoadRequest(config), events.put)
        os.kill(pid, signal.SIGKILL)  # from outside, by pid: the client learns it from the closed pipe
        event = events.get(timeout=60)
        while not isinstance(event, (Failed, Done)):
            event = events.get(timeout=60)
        assert isinstance(event, Failed) and event.kind == "crashed"
        assert "while loading SmolLM2-135M-Instruct.Q4_1.gguf" in event.message
        assert "SIGKILL" in event.message and "answer" not in event.message
        loaded = load_model(client, config)  # the next request starts a new engine
        assert not isinstance(loaded, Failed), loaded
        assert client.engine_pid not in (None, pid)
