"""Chat with an OpenAI-compatible server (llama.cpp's server, llama-cpp-python's, vLLM).

It implements `protocols.ChatModel` like the local model and runs in the engine process the same way,
so streaming, Stop and storing the answer take one code path for both. Standard library only: the
HTTP client (`remote_http.py`) checks Stop every 50 ms while it waits, even for a silent server.
Nothing connects until a question is sent or the user presses "Test connection".

Token counting for history fitting is an estimate, not the server's tokenizer: ceil(UTF-8 bytes / 3).
English runs ~4 bytes per token and CJK ~3, so the estimate errs high (history is trimmed a little
early, never sent over the window). Asking the server (llama.cpp's /extras/tokenize) would cost a
round trip per message, and vLLM and others have no such endpoint.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

from assistant.engines import remote_http
from assistant.engines.remote_http import Stopped, never
from assistant.models.remote_server import RemoteEndpoint, RemoteError, normalise_base_url
from assistant.prompt.conversation import fit_to_context
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats, StopCheck

logger = logging.getLogger(__name__)


class RemoteChatModel:
    """One configured server; holds no connection between requests (one per question)."""

    gpu_layers = 0
    load_s = 0.0
    sees_images = False  # the grounding text goes in the message; images are not uploaded
    accelerator = None  # the server's hardware is its own business

    def __init__(self, endpoint: RemoteEndpoint, context_size: int = 4096) -> None:
        # Checked here, without connecting: a bad address fails the question with what is wrong.
        self.endpoint = endpoint
        normalise_base_url(endpoint.base_url)
        self.name = endpoint.label
        self.context_size = context_size
        self.prefix_reuse = True  # the server keeps its own cache; nothing to do here

    def close(self) -> None:
        pass  # no connection is kept

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8")) / 3)

    def prefill(self, messages: Sequence[ChatMessage], options: GenerationOptions, should_stop: StopCheck,
                open_end: bool = False) -> int:
        return 0  # a prefill-only request would cost a full answer's round trip on most servers

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        stats: GenerationStats,
        should_stop: Callable[[], bool] = never,
    ) -> Generator[str, None, None]:
        """Yield the answer's text pieces; ends quietly when should_stop() says yes (Stop).

        Raises RemoteError with a message for the user when the server cannot answer.
        """
        started = time.perf_counter()
        budget = max(self.context_size - options.max_tokens, self.context_size // 2)
        fitted = fit_to_context(messages, self.count_tokens, budget)  # raises PromptTooLong
        stats.dropped_messages = fitted.dropped
        stats.template = "server"
        stats.prompt_tokens = sum(self.count_tokens(m.content) for m in fitted.messages)  # estimate
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in fitted.messages],
            "stream": True,
            "max_tokens": options.max_tokens,
            **_sampling_fields(options),
        }
        if self.endpoint.model:
            body["model"] = self.endpoint.model
        stats.sampling = {key: body[key] for key in _RECORDED if key in body}
        try:
            response = _open(self.endpoint, "POST", "/v1/chat/completions", body, should_stop)
        except Stopped:
            stats.total_s = time.perf_counter() - started
            return
        try:
            for piece in _answer_pieces(response, self.endpoint):
                if not stats.first_token_s:
                    stats.first_token_s = time.perf_counter() - started
                stats.completion_tokens += 1  # llama.cpp and vLLM send one token per event
                yield piece
        except Stopped:
            return
        finally:
            response.close()
            stats.total_s = time.perf_counter() - started


# Sent, and so recorded with the answer: the server may still ignore what it does not know.
_RECORDED = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed")


def _sampling_fields(options: GenerationOptions) -> dict[str, Any]:
    """The OpenAI API's temperature, top_p and seed, plus top_k and min_p, which llama.cpp's server,
    llama-cpp-python's and vLLM accept beside them (servers that do not know a field ignore it). The
    repeat penalty goes only when it is on: llama.cpp calls it repeat_penalty, vLLM
    repetition_penalty, so both names are sent."""
    fields: dict[str, Any] = {"temperature": options.temperature, "top_p": options.top_p,
                              "top_k": options.top_k, "min_p": options.min_p}
    if options.repeat_penalty != 1.0:
        fields |= {"repeat_penalty": options.repeat_penalty, "repetition_penalty": options.repeat_penalty}
    if options.seed is not None:
        fields["seed"] = options.seed
    return fields


def list_models(endpoint: RemoteEndpoint, should_stop: Callable[[], bool] = never) -> list[str]:
    """The model ids the server offers (GET /v1/models): "Test connection" in Settings."""
    response = _open(endpoint, "GET", "/v1/models", None, should_stop)
    try:
        raw = response.read()
    finally:
        response.close()
    try:
        data = json.loads(raw)
        return [str(item["id"]) for item in data["data"]]
    except (ValueError, KeyError, TypeError):
        raise RemoteError(
            f"The server at {endpoint.base_url} answered /v1/models with something that is not an "
            f"OpenAI-compatible model list: {_excerpt(raw)}"
        ) from None


def _open(
    endpoint: RemoteEndpoint,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    should_stop: Callable[[], bool],
) -> remote_http.Response:
    """Send the request; a status other than 200 becomes a RemoteError that says what to do."""
    headers = {"Accept": "text/event-stream, application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    base_url = normalise_base_url(endpoint.base_url)
    payload = json.dumps(body).encode("utf-8") if body is not None else None
    response = remote_http.request(
        base_url, method, path, body=payload, headers=headers,
        connect_timeout_s=endpoint.connect_timeout_s, read_timeout_s=endpoint.read_timeout_s,
        should_stop=should_stop,
    )
    if response.status == 200:
        return response
    try:
        detail = _error_detail(response.read(64 * 1024))
    finally:
        response.close()
    raise _status_error(response.status, response.reason, detail, endpoint, path)


def _status_error(status: int, reason: str, detail: str, endpoint: RemoteEndpoint, path: str) -> RemoteError:
    said = f": {detail}" if detail else ""
    if status in (401, 403):
        key = "the API key" if endpoint.api_key else "the request: it needs an API key"
        return RemoteError(
            f"The server refused {key} (HTTP {status}{said}). Check the key in Settings → Remote server."
        )
    if status == 404:
        which = f"no model named {endpoint.model!r}, or " if endpoint.model else ""
        return RemoteError(
            f"The server has {which}no {path} (HTTP 404{said}). Check the model name and the address; "
            "Test connection in Settings lists the models it serves."
        )
    if status >= 500:
        return RemoteError(f"The server failed to answer (HTTP {status} {reason}{said}).")
    return RemoteError(f"The server refused the request (HTTP {status} {reason}{said}).")


def _answer_pieces(response: remote_http.Response, endpoint: RemoteEndpoint) -> Iterator[str]:
    """Text pieces from an SSE stream of chat.completion.chunk objects, up to `data: [DONE]`."""
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        # Some servers ignore stream=true and send the whole completion as one JSON object.
        yield from _whole_answer(response.read(16 * 1024 * 1024), endpoint)
        return
    finished = False
    for data in _sse_data(response, endpoint.base_url):
        if data.strip() == "[DONE]":
            return
        event = _json(data, endpoint)
        if isinstance(event, dict) and "error" in event:
            raise RemoteError(f"The server stopped with an error: {_error_text(event['error'])}")
        try:
            choice = event["choices"][0] if event["choices"] else {}
            text = (choice.get("delta") or {}).get("content") or ""
            finished = finished or bool(choice.get("finish_reason"))
        except (KeyError, TypeError, AttributeError, IndexError):
            raise RemoteError(
                f"The server at {endpoint.base_url} sent an event that is not a chat completion chunk: "
                f"{_excerpt(data.encode())}"
            ) from None
        if text:
            yield text
    if not finished:
        raise RemoteError(
            "The server closed the connection before the answer was finished (a question longer than "
            "its context window can do that)."
        )


def _sse_data(response: remote_http.Response, base_url: str) -> Iterator[str]:
    """The `data:` payload of each server-sent event (multi-line data joined with newlines)."""
    chunks = response.chunks()
    pending = bytearray()
    data_lines: list[str] = []
    for chunk in chunks:
        pending += chunk
        while True:
            end = pending.find(b"\n")
            if end < 0:
                if len(pending) > remote_http.MAX_LINE_BYTES:
                    raise RemoteError(f"The server at {base_url} sent an event line that never ends.")
                break
            line = bytes(pending[:end]).rstrip(b"\r").decode("utf-8", errors="replace")
            del pending[: end + 1]
            if not line:  # a blank line ends the event
                if data_lines:
                    yield "\n".join(data_lines)
                    data_lines = []
            elif line.startswith("data:"):
                data_lines.append(line[5:].removeprefix(" "))
            elif not line.startswith((":", "event:", "id:", "retry:")):
                raise RemoteError(
                    f"The server at {base_url} did not send a valid event stream: "
                    f"{_excerpt(line.encode())}"
                )
    if data_lines:
        yield "\n".join(data_lines)


def _whole_answer(raw: bytes, endpoint: RemoteEndpoint) -> Iterator[str]:
    completion = _json(raw.decode("utf-8", errors="replace"), endpoint)
    try:
        text = completion["choices"][0]["message"]["content"] or ""
    except (KeyError, TypeError, IndexError):
        raise RemoteError(
            f"The server at {endpoint.base_url} answered with something that is not a chat completion: "
            f"{_excerpt(raw)}"
        ) from None
    if text:
        yield text


def _json(text: str, endpoint: RemoteEndpoint) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise RemoteError(
            f"The server at {endpoint.base_url} sent malformed JSON in its answer: {_excerpt(text.encode())}"
        ) from None


def _error_detail(raw: bytes) -> str:
    """The message inside an error body ({"error": {"message": ...}}, {"detail": ...}) or its text."""
    try:
        data = json.loads(raw)
    except ValueError:
        return _excerpt(raw) if raw.strip() else ""
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            if key in data:
                return _error_text(data[key])
    return _excerpt(raw)


def _error_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("message") or value.get("msg") or value)[:300]
    return str(value)[:300]


def _excerpt(raw: bytes, limit: int = 120) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return repr(text[:limit] + ("…" if len(text) > limit else ""))
