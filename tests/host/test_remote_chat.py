"""The remote backend: an OpenAI-compatible server answers through the app's own path.

Real parts: llama-cpp-python's server on SmolLM2, the engine process, ChatSession and a SQLite store.
Misbehaving servers are tiny scripted ones on 127.0.0.1 (401, garbage, silence).
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import remote_servers
from remote_servers import ScriptedServer

from assistant.chat.session import ChatSession, TurnUpdate
from assistant.engines.remote_chat import RemoteChatModel, list_models
from assistant.history.store import Store
from assistant.host.client import EngineClient, Inbox
from assistant.host.messages import (
    ChatRequest,
    Done,
    EngineConfig,
    Event,
    Failed,
    LoadRequest,
    ModelLoaded,
    Token,
)
from assistant.models.remote_server import REMOTE_MODEL, RemoteEndpoint, RemoteError
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats
from assistant.settings import Settings

pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (the test extra)")

pytestmark = pytest.mark.timeout(180)

SYSTEM = "You are a helpful assistant."


@pytest.fixture(scope="module")
def server(smollm2_path: Path) -> Iterator[str]:
    with remote_servers.llama_server(smollm2_path) as base:
        yield base


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()  # the session's handlers run on the test's thread while it pumps, as in the CLI


@pytest.fixture
def client(inbox: Inbox) -> Iterator[EngineClient]:
    # stop_timeout_s=0.3: a Stop the engine does not confirm within 300 ms kills it (tests check it lives).
    engine = EngineClient(inbox.deliver, stop_timeout_s=0.3)
    engine.start()
    yield engine
    engine.shutdown()


def remote_settings(url: str, **changes: object) -> Settings:
    settings = Settings(model=REMOTE_MODEL, remote_url=url, system_prompt=SYSTEM, temperature=0.0,
                        max_answer_tokens=32, context_size=2048)
    return dataclasses.replace(settings, **changes)


class Answer:
    """The answer's listener (ChatSession.send's on_event): keeps the update that finished it, and
    presses Stop after `stop_after_tokens` tokens."""

    def __init__(self, session: ChatSession, *, stop_after_tokens: int = 0) -> None:
        self.session = session
        self.stop_after_tokens = stop_after_tokens
        self.tokens = 0
        self.final: TurnUpdate | None = None

    def __call__(self, event: Event, update: TurnUpdate | None) -> None:
        if isinstance(event, Token):
            self.tokens += 1
            if self.tokens == self.stop_after_tokens:
                self.session.stop()
        if update is not None and update.finished:
            self.final = update


def finish(inbox: Inbox, answer: Answer) -> TurnUpdate:
    """Run the session's handlers on this thread until its answer ends."""
    while answer.final is None:
        assert inbox.pump(timeout=120), "no event from the engine for 120 s"
    return answer.final


def terminal(client: EngineClient, request: ChatRequest) -> Done | Failed:
    end = list(client.stream(request))[-1]
    assert isinstance(end, (Done, Failed)), end
    return end


def chat_config(tmp_path: Path, endpoint: RemoteEndpoint) -> EngineConfig:
    return EngineConfig(model=REMOTE_MODEL, data_dir=str(tmp_path), context_size=2048, remote=endpoint)


# ---- the real server ------------------------------------------------------------------------------


def test_streamed_answer_is_stored_and_equals_the_servers_own(
    server: str, client: EngineClient, inbox: Inbox, tmp_path: Path
) -> None:
    question = "What is the capital of France?"
    reference = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
                 "max_tokens": 32, "temperature": 0.0}
    # llama.cpp's greedy output depends on how the prompt was batched (a cold prompt vs one found in
    # the server's cache give different logits): warm the cache first, so both answers start alike.
    remote_servers.complete(server, reference)
    store = Store(tmp_path / "history.sqlite3")
    session = ChatSession(store, client, remote_settings(server), tmp_path)
    answer = Answer(session)
    turn = session.send(None, question, on_event=answer)
    update = finish(inbox, answer)

    assert update.status == "complete", update.error
    expected = remote_servers.complete(server, reference)["choices"][0]["message"]["content"]
    assert turn.text == expected and expected.strip()
    stored = store.messages(turn.conversation_id)
    assert [(m.role, m.status) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert stored[1].text == expected
    assert stored[1].timings["completion_tokens"] > 1


def test_stop_mid_answer_keeps_the_partial_answer(
    server: str, client: EngineClient, inbox: Inbox, tmp_path: Path
) -> None:
    store = Store(tmp_path / "history.sqlite3")
    session = ChatSession(store, client, remote_settings(server, max_answer_tokens=400), tmp_path)
    pid = client.engine_pid
    answer = Answer(session, stop_after_tokens=5)
    turn = session.send(None, "Count from 1 to 300, separated by commas.", on_event=answer)
    update = finish(inbox, answer)

    assert update.status == "stopped"
    stored = store.messages(turn.conversation_id)[1]
    assert stored.status == "stopped" and stored.text == turn.text and len(turn.text) > 0
    assert client.engine_pid == pid  # the engine confirmed the Stop itself: it was not killed


def test_list_models_and_nothing_connects_before_a_question(server: str, tmp_path: Path) -> None:
    models = list_models(RemoteEndpoint(server))
    assert models and models[0].endswith(".gguf")
    # Choosing the remote model loads nothing and connects nowhere: only a question does.
    with ScriptedServer(remote_servers.silent) as idle:
        engine = EngineClient()
        try:
            load = LoadRequest(chat_config(tmp_path, RemoteEndpoint(idle.base_url, "m")))
            loaded = [e for e in engine.stream(load) if isinstance(e, ModelLoaded)]
        finally:
            engine.shutdown()
        assert loaded and loaded[0].model == f"Remote: m @ {idle.base_url.removeprefix('http://')}"
        assert idle.connections == 0


# ---- servers that fail --------------------------------------------------------------------------


def test_refused_connection_says_is_it_running(client: EngineClient, inbox: Inbox, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{remote_servers.closed_port()}"
    store = Store(tmp_path / "history.sqlite3")
    session = ChatSession(store, client, remote_settings(url), tmp_path)
    answer = Answer(session)
    turn = session.send(None, "Hello?", on_event=answer)
    update = finish(inbox, answer)
    assert update.status == "failed"
    assert update.error == f"Could not reach the server at {url}: is it running?"
    assert store.messages(turn.conversation_id)[1].text == update.error  # the stored row says why


def test_refused_api_key_is_named_and_never_echoed(client: EngineClient, tmp_path: Path) -> None:
    body = json.dumps({"error": {"message": "Invalid API Key", "type": "invalid_request_error"}}).encode()
    with ScriptedServer(remote_servers.reply("401 Unauthorized", "application/json", body)) as fake:
        endpoint = RemoteEndpoint(fake.base_url, "m", api_key="sekrit-123")
        failed = terminal(client, ChatRequest(chat_config(tmp_path, endpoint), (ChatMessage("user", "hi"),),
                                              GenerationOptions(max_tokens=8)))
    assert isinstance(failed, Failed)
    assert "refused the API key (HTTP 401: Invalid API Key)" in failed.message
    assert "sekrit" not in failed.message and "sekrit" not in repr(endpoint)
    assert b"\r\nAuthorization: Bearer sekrit-123\r\n" in fake.requests[0]


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (remote_servers.reply("200 OK", "text/event-stream", b"data: {not json\n\n"), "malformed JSON"),
        (remote_servers.reply("200 OK", "text/event-stream", b"<html>hello</html>\n"),
         "did not send a valid event stream"),
        (remote_servers.reply("500 Internal Server Error", "application/json",
                              b'{"error": {"message": "CUDA out of memory"}}'),
         "failed to answer (HTTP 500 Internal Server Error: CUDA out of memory)"),
        (remote_servers.reply("404 Not Found", "application/json", b'{"detail": "Not Found"}'),
         "no model named 'm', or no /v1/chat/completions (HTTP 404: Not Found)"),
    ],
    ids=["bad-json", "not-sse", "http-500", "http-404"],
)
def test_a_broken_answer_fails_with_a_message(
    handler: remote_servers.Handler, expected: str, client: EngineClient, tmp_path: Path
) -> None:
    with ScriptedServer(handler) as fake:
        failed = terminal(client, ChatRequest(chat_config(tmp_path, RemoteEndpoint(fake.base_url, "m")),
                                              (ChatMessage("user", "hi"),), GenerationOptions(max_tokens=8)))
    assert isinstance(failed, Failed) and expected in failed.message, failed


def test_not_http_at_all_fails_with_a_message(tmp_path: Path) -> None:
    def garbage(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        conn.close()

    with ScriptedServer(garbage) as fake:
        model = RemoteChatModel(RemoteEndpoint(fake.base_url))
        with pytest.raises(RemoteError, match="did not answer in HTTP"):
            list(model.stream([ChatMessage("user", "hi")], GenerationOptions(), GenerationStats()))


def test_stop_with_a_silent_server_is_confirmed_by_the_engine_within_300_ms(
    client: EngineClient, inbox: Inbox, tmp_path: Path
) -> None:
    """The client kills an engine that has not confirmed a Stop after stop_timeout_s (0.3 s here), and
    then synthesises an empty Done: a Done with the engine's own stats and the same engine process
    prove the engine noticed the Stop itself while waiting on the silent server."""
    store = Store(tmp_path / "history.sqlite3")
    with ScriptedServer(remote_servers.silent) as hanging:
        session = ChatSession(store, client, remote_settings(hanging.base_url), tmp_path)
        pid = client.engine_pid
        answer = Answer(session)
        turn = session.send(None, "Are you there?", on_event=answer)
        assert hanging.accepted.wait(30)
        session.stop()
        update = finish(inbox, answer)
    assert update.status == "stopped"
    assert update.timings["total_s"] > 0  # the engine's Done (a synthesised one has empty stats)
    assert client.engine_pid == pid
    assert store.messages(turn.conversation_id)[1].status == "stopped"


def test_a_server_that_goes_quiet_times_out_with_a_message(client: EngineClient, tmp_path: Path) -> None:
    with ScriptedServer(remote_servers.event_then_silence) as quiet:
        endpoint = RemoteEndpoint(quiet.base_url, read_timeout_s=0.5)
        seen = list(client.stream(ChatRequest(chat_config(tmp_path, endpoint), (ChatMessage("user", "hi"),),
                                              GenerationOptions(max_tokens=8))))
    assert [e.text for e in seen if isinstance(e, Token)] == ["Hello"]
    assert isinstance(seen[-1], Failed)
    assert f"The server at {quiet.base_url} sent nothing for 0.5 s" in seen[-1].message


def test_a_bad_address_fails_the_question_without_connecting(
    client: EngineClient, inbox: Inbox, tmp_path: Path
) -> None:
    session = ChatSession(None, client, remote_settings("ftp://example.org"), tmp_path)
    answer = Answer(session)
    session.send(None, "hi", on_event=answer)
    update = finish(inbox, answer)
    assert update.status == "failed"
    assert update.error == "The server address must start with http:// or https:// (got ftp://)."
