"""The remote backend sends the answer's sampling to the server and records what it sent (issue 11)."""

from __future__ import annotations

import json

from remote_servers import ScriptedServer, fake_openai

from assistant.engines.remote_chat import RemoteChatModel
from assistant.models.remote_server import RemoteEndpoint
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats


def body_of(request: bytes) -> dict:
    return json.loads(request.partition(b"\r\n\r\n")[2])


def test_sampling_goes_to_the_server_and_is_recorded() -> None:
    options = GenerationOptions(max_tokens=8, temperature=0.3, top_p=0.9, top_k=40, min_p=0.1,
                                repeat_penalty=1.1, seed=1234)
    with ScriptedServer(fake_openai(["m"], ["Hel", "lo"])) as server:
        stats = GenerationStats()
        model = RemoteChatModel(RemoteEndpoint(server.base_url, "m"))
        assert "".join(model.stream([ChatMessage("user", "hi")], options, stats)) == "Hello"
        sent = body_of(server.requests[-1])
    # OpenAI's own fields, plus those llama.cpp's server and vLLM accept (each under its own name).
    assert {k: sent[k] for k in ("temperature", "top_p", "seed", "top_k", "min_p")} == \
        {"temperature": 0.3, "top_p": 0.9, "seed": 1234, "top_k": 40, "min_p": 0.1}
    assert sent["repeat_penalty"] == sent["repetition_penalty"] == 1.1
    assert stats.sampling == {"temperature": 0.3, "top_p": 0.9, "top_k": 40, "min_p": 0.1,
                              "repeat_penalty": 1.1, "seed": 1234}


def test_greedy_without_a_repeat_penalty_sends_no_penalty_fields() -> None:
    with ScriptedServer(fake_openai(["m"], ["ok"])) as server:
        stats = GenerationStats()
        model = RemoteChatModel(RemoteEndpoint(server.base_url))
        list(model.stream([ChatMessage("user", "hi")], GenerationOptions(max_tokens=4, temperature=0.0,
                                                                          seed=7), stats))
        sent = body_of(server.requests[-1])
    assert sent["temperature"] == 0.0 and sent["seed"] == 7
    assert "repeat_penalty" not in sent and "repetition_penalty" not in sent
    assert stats.sampling["temperature"] == 0.0 and "repeat_penalty" not in stats.sampling
