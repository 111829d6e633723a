"""`assistant selftest`: prove on this machine, offline, that the chosen model loads and answers."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from assistant import network_audit
from assistant import settings as settings_module
from assistant.host.client import EngineClient, load_model
from assistant.host.messages import ChatRequest, Done, EngineConfig, Failed, ModelLoaded, Token
from assistant.protocols import ChatMessage, GenerationOptions

QUESTION = "What is the capital of France? Answer in one short sentence."


def run_selftest(model: str | None = None) -> int:
    """Exit 0 when the model answered the France question with 'Paris' and nothing tried the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: nothing here may reach a hub
    given = os.environ.get(network_audit.AUDIT_ENV)  # the offline test reads the same file afterwards
    with tempfile.TemporaryDirectory(prefix="assistant-selftest-") as folder:
        audit_log = Path(given) if given else Path(folder) / "network.log"
        network_audit.install(audit_log)  # before the engine process is spawned: it inherits the path
        code = _answer_once(model)
        attempts = network_audit.read_attempts(audit_log)
        count = len(attempts) + network_audit.unrecorded()
        audited = len(network_audit.audited_processes(audit_log))
    print(f"network attempts: {count} (audited processes: {audited})")
    for attempt in attempts:
        print(f"  {attempt}")
    if count:
        print("selftest FAILED: something tried to reach the network", file=sys.stderr)
        return 1
    if audited < 2:  # this process and the engine process: else a zero count proves nothing
        print(f"selftest FAILED: the network audit ran in {audited} process(es), not 2", file=sys.stderr)
        return 1
    if code == 0:
        print("selftest OK")
    return code


def _answer_once(model: str | None) -> int:
    settings = settings_module.load_settings()
    if model:
        settings.model = model
    config = EngineConfig.from_settings(settings, settings_module.data_dir())
    messages = (ChatMessage("system", settings.system_prompt), ChatMessage("user", QUESTION))
    started = time.perf_counter()
    answer: list[str] = []
    with EngineClient() as engine:
        loaded = load_model(engine, config)
        if isinstance(loaded, Failed):
            print(f"selftest FAILED: could not load {settings.model}: {loaded.message}")
            return 1
        assert isinstance(loaded, ModelLoaded)
        print(f"model: {loaded.model} (loaded in {loaded.seconds:.2f} s)")
        if loaded.accelerator is not None:  # which llama.cpp backend runs it, and the layers on the GPU
            print(f"runs on: {loaded.accelerator.describe()}")
        options = GenerationOptions(max_tokens=48, temperature=0.0, seed=1)
        for event in engine.stream(ChatRequest(config, messages, options)):
            if isinstance(event, Token):
                answer.append(event.text)
            elif isinstance(event, Failed):
                print(f"selftest FAILED: {event.message}")
                return 1
            elif isinstance(event, Done):
                stats = event.stats
                print(f"answer: {''.join(answer).strip()}")
                print(
                    f"first token {stats.first_token_s:.2f} s, {stats.decode_tokens_per_s:.1f} tokens/s, "
                    f"total {time.perf_counter() - started:.2f} s"
                )
    if "paris" not in "".join(answer).lower():
        print("selftest FAILED: the answer does not mention Paris", file=sys.stderr)
        return 1
    return 0
