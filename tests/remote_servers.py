"""Servers on 127.0.0.1 for the remote-backend tests: llama-cpp-python's own OpenAI-compatible server,
and a tiny scripted one that misbehaves on purpose (401, garbage, silence)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from assistant.bench.remote import local_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (connect is refused)."""
    return free_port()


def llama_server(model: Path, *, api_key: str | None = None, timeout_s: float = 90.0,
                 ) -> contextlib.AbstractContextManager[str]:
    """`python -m llama_cpp.server` on the given GGUF, one thread; yields its base URL once it answers.
    The same launcher `assistant bench remote` uses."""
    return local_server(model, 1, api_key=api_key, timeout_s=timeout_s)


def complete(base: str, body: dict) -> dict:
    """A non-streamed chat completion straight from the server (the reference answer)."""
    request = urllib.request.Request(
        f"{base}/v1/chat/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


Handler = Callable[[socket.socket, bytes], None]


class ScriptedServer:
    """Accepts connections on 127.0.0.1 and lets `handler(connection, request_bytes)` answer each.

    `requests` keeps every request received (head and body); `accepted` is set at the first accept.
    """

    def __init__(self, handler: Handler, *, read_request: bool = True) -> None:
        self.handler = handler
        self.read_request = read_request
        self.requests: list[bytes] = []
        self.connections = 0
        self.accepted = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self._listener.settimeout(0.1)
        self._open: list[socket.socket] = []
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._thread.join(5)
        for conn in self._open:
            conn.close()
        self._listener.close()

    def _serve(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self._open.append(conn)
            self.accepted.set()
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        request = _read_request(conn) if self.read_request else b""
        self.requests.append(request)
        with contextlib.suppress(OSError):
            self.handler(conn, request)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def reply(status: str, content_type: str, body: bytes) -> Handler:
    """A handler that sends one whole response and closes."""

    def handler(conn: socket.socket, _request: bytes) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body)
        conn.close()

    return handler


def silent(conn: socket.socket, _request: bytes) -> None:
    """Accept the request and never answer (the connection stays open until the server closes)."""


def event_then_silence(conn: socket.socket, _request: bytes) -> None:
    """Start a proper event stream, send one token, then say nothing more."""
    chunk = {"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]}
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
                 + f"data: {json.dumps(chunk)}\n\n".encode())


def fake_openai(models: list[str], pieces: list[str]) -> Handler:
    """A well-behaved OpenAI-compatible server: /v1/models lists `models`; a chat streams `pieces`."""

    def handler(conn: socket.socket, request: bytes) -> None:
        if request.startswith(b"GET /v1/models "):
            reply("200 OK", "application/json",
                  json.dumps({"object": "list", "data": [{"id": m} for m in models]}).encode())(conn, request)
            return
        events = [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        body = "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events) + "data: [DONE]\r\n\r\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for part in (body[: len(body) // 2], body[len(body) // 2:]):  # split mid-event on purpose
            data = part.encode()
            conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        conn.sendall(b"0\r\n\r\n")
        conn.close()

    return handler
