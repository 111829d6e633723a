"""`assistant bench voice`: push-to-talk latency with and without live transcription, in one run.

A 5 s spoken question (espeak-ng) is "held" in real time, chunk by chunk, as the microphone would
deliver it. With streaming, the window's schedule runs while the key is held (`LiveTranscriber`: live
passes, the final pass at the speaker's pause; the prompt evaluated from the key press on); the batch
baseline decodes the whole clip after release and evaluates the whole prompt then. Then the
transcript is sent to the default chat model and the time from release to the first answer token is
measured. Both through the real engine process; the models are loaded before the clock starts, as
they are in the window.
"""

from __future__ import annotations

import argparse
import logging
import queue
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant import settings
from assistant.host.client import EngineClient
from assistant.host.messages import (
    ChatRequest,
    Done,
    EngineConfig,
    Event,
    Failed,
    LoadRequest,
    Token,
    TranscribeRequest,
    Transcript,
)
from assistant.models import catalog
from assistant.protocols import ChatMessage, GenerationOptions, Segment, TranscriptionOptions
from assistant.voice.live_transcript import RATE, LiveTranscriber, PassRequest, pass_options

logger = logging.getLogger(__name__)
QUESTION = "What is the capital of France, and which river flows through it?"
TTS_SENTENCE = (
    "The quick brown fox jumps over the lazy dog while the evening sun sets slowly behind "
    "the quiet green hills today."
)  # 20 words
CHUNK_S = 0.1


Events = queue.Queue[Event]  # one request's events, put there on the client's dispatcher thread


class _Engine:
    """EngineClient whose requests each get a queue: events arrive on the client's thread, are read
    on this one (without blocking, while the "microphone" goes on)."""

    def __init__(self, language: str | None) -> None:
        self.client = EngineClient()
        self.language = language  # None: detected, as the window does by default

    def send(self, request: ChatRequest | LoadRequest | TranscribeRequest) -> Events:
        events: Events = queue.Queue()
        self.client.send(request, events.put)
        return events

    def wait(self, events: Events) -> tuple[list[Any], Done]:
        seen: list[Any] = []
        while True:
            event = events.get(timeout=300)
            if isinstance(event, Failed):
                raise RuntimeError(event.message)
            if isinstance(event, Done):
                return seen, event
            seen.append(event)

    def transcribe(self, model: str, data_dir: Path, audio: Any | PassRequest) -> Events:
        """A push-to-talk pass (a `PassRequest`: the window's own options) or the batch baseline."""
        if isinstance(audio, PassRequest):
            options = pass_options(self.language, final=audio.final)
            audio = audio.audio
        else:
            options = TranscriptionOptions(language=self.language)
        return self.send(TranscribeRequest(model, str(data_dir), audio=audio, options=options))


def _segments(events: list[Any]) -> list[Segment]:
    return [e.segment for e in events if isinstance(e, Transcript)]


def _speech_clip() -> Any:
    from assistant.engines.audio_decode import decode_file  # the engine module owns PyAV

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "question.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(wav), QUESTION], check=True)
        return decode_file(wav)


def _with_quiet_tail(clip: Any, seconds: float) -> Any:
    """People let go of the key a moment after their last word; the room is quiet, not silent."""
    import numpy as np

    noise = np.random.default_rng(0).normal(0.0, 3e-4, round(seconds * RATE)).astype(np.float32)
    return np.concatenate([clip, noise])


def _hold_with_streaming(
    engine: _Engine, model: str, data_dir: Path, clip: Any, prefill: Callable[[str, bool], object]
) -> tuple[float, str, int]:
    """Feed the clip in real time with live passes; return release->final transcript seconds.

    As in the window, `prefill("", True)` at the key press has the engine evaluate the prompt up to
    where the question will go, and once a pass has heard everything said so far `prefill(text, False)`
    the question's whole prompt, while the key is still held.
    """
    live = LiveTranscriber()
    prefill("", True)
    prefilled = ""
    in_flight: Events | None = None
    pending: list[Segment] = []  # segments of the live pass in flight
    started = time.perf_counter()
    step = int(CHUNK_S * RATE)
    for index, offset in enumerate(range(0, len(clip), step)):
        live.add_audio(clip[offset : offset + step])
        while in_flight is not None:  # collect a finished live pass without blocking the "microphone"
            try:
                event = in_flight.get_nowait()
            except queue.Empty:
                break
            if isinstance(event, Transcript):
                pending.append(event.segment)
            elif isinstance(event, Done):
                live.accept(pending)
                in_flight = None
                expected = live.text_if_released()
                if expected and expected != prefilled:
                    prefill(expected, False)
                    prefilled = expected
            elif isinstance(event, Failed):
                live.abandon()
                in_flight = None
        if in_flight is None and (wanted := live.next_request()) is not None:
            pending = []
            in_flight = engine.transcribe(model, data_dir, wanted)
        time.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.perf_counter()))
    released = time.perf_counter()
    if in_flight is not None:  # a live pass still running at release is part of the wait
        events, _ = engine.wait(in_flight)
        live.accept(pending + _segments(events))
    tail = live.final_request()
    final = engine.transcribe(model, data_dir, tail) if tail is not None else None
    segments = _segments(engine.wait(final)[0]) if final is not None else []
    text = live.finish(segments)
    return time.perf_counter() - released, text, live.passes


def _batch(engine: _Engine, model: str, data_dir: Path, clip: Any) -> tuple[float, str, float]:
    released = time.perf_counter()
    events, done = engine.wait(engine.transcribe(model, data_dir, clip))
    text = " ".join(s.text.strip() for s in _segments(events))
    return time.perf_counter() - released, text, done.stats.extra.get("real_time_factor", float("nan"))


def _messages(question: str, run: int) -> list[ChatMessage]:
    # A different system prompt per measurement: an identical prompt would be answered from the KV
    # cache of the one before (the window's prompts share the system prompt, so it stays cached there).
    system = f"{settings.DEFAULT_SYSTEM_PROMPT}\n\nSession {run}."
    return [ChatMessage("system", system), ChatMessage("user", question)]


def _first_token_after(
    engine: _Engine, config: EngineConfig, messages: list[ChatMessage], already_s: float
) -> float:
    started = time.perf_counter()
    options = GenerationOptions(max_tokens=16, temperature=0.0)
    events = engine.send(ChatRequest(config, tuple(messages), options))
    first = None
    while True:
        event = events.get(timeout=300)
        if isinstance(event, Token) and first is None:
            first = time.perf_counter() - started
        if isinstance(event, Done | Failed):
            if isinstance(event, Done):
                stats = event.stats
                logger.info("chat: %d prompt tokens, %d reused, first token %.3f s in the engine",
                            stats.prompt_tokens, stats.reused_tokens, stats.first_token_s)
            break
    return already_s + (first if first is not None else float("nan"))


def _piper_first_audio(data_dir: Path, runs: int) -> float:
    from assistant.engines import piper_tts

    voice = piper_tts.load(catalog.ensure_model(catalog.find_model("piper-joe-medium", data_dir), data_dir))
    timings = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        next(iter(voice.synthesize(TTS_SENTENCE)))
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="assistant bench voice",
        description="Push-to-talk latency (default) or, with --accuracy, word error rates per speech set.",
    )
    parser.add_argument(
        "--accuracy", action="store_true",
        help="word error rate per speech set (espeak-ng and Piper voices and speeds, noise at several SNRs, "
             "real recorded speech, numbers, names), the app against plain faster-whisper on the same "
             "files and model; see `assistant bench voice --accuracy --help` for its options",
    )
    if argv and "--accuracy" in argv:  # its own options (and its own --help)
        from assistant.bench import voice_accuracy

        return voice_accuracy.main([a for a in argv if a != "--accuracy"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--release-after", type=float, default=0.5, metavar="S",
        help="seconds of quiet room between the last word and the key release (default 0.5)",
    )
    parser.add_argument(
        "--language", default="", metavar="CODE",
        help="the speech language, as the setting (default: none, detected by each pass as in the window)",
    )
    args = parser.parse_args(argv)
    data_dir = settings.data_dir()
    user = settings.load_settings()
    config = EngineConfig.from_settings(user, data_dir)
    clip = _with_quiet_tail(_speech_clip(), args.release_after)
    engine = _Engine(args.language or None)
    try:
        engine.client.start()
        engine.wait(engine.send(LoadRequest(config)))
        rtf: dict[str, float] = {}
        for model in ("whisper-tiny.en", "whisper-base"):
            _batch(engine, model, data_dir, clip)  # load + warm up
            rtf[model] = statistics.median(_batch(engine, model, data_dir, clip)[2] for _ in range(args.runs))
        options = GenerationOptions(max_tokens=16, temperature=0.0)
        streaming, batch, answers, batch_answers = [], [], [], []
        for run in range(args.runs):
            def prefill(text: str, open_end: bool, run: int = run) -> Events:
                messages = tuple(_messages(text, 2 * run))
                request = ChatRequest(config, messages, options, prefill_only=True, open_end=open_end)
                return engine.send(request)

            seconds, text, passes = _hold_with_streaming(engine, "whisper-base", data_dir, clip, prefill)
            streaming.append(seconds)
            answers.append(_first_token_after(engine, config, _messages(text, 2 * run), seconds))
            batch_s, batch_text, _ = _batch(engine, "whisper-base", data_dir, clip)
            batch.append(batch_s)
            baseline = _messages(batch_text, 2 * run + 1)
            batch_answers.append(_first_token_after(engine, config, baseline, batch_s))
    finally:
        engine.client.shutdown()
    tts = _piper_first_audio(data_dir, args.runs)

    stream_s, batch_s, answer_s, batch_answer_s = (
        statistics.median(x) for x in (streaming, batch, answers, batch_answers)
    )
    print(f"Voice benchmark: {len(clip) / RATE:.1f} s held ({args.release_after:.1f} s of it after the "
          f"last word), whisper-base + {config.model}{'' if user.model else ' (the default)'}, language "
          f"{args.language or 'detected'}, median of {args.runs}")
    print(f"  streaming transcript ({passes} passes): {text!r}")
    print(f"  batch transcript:                       {batch_text!r}")
    print(f"  release -> final transcript, streaming   {stream_s * 1000:7.0f} ms  (target <= 250 ms: "
          f"{'met' if stream_s <= 0.25 else 'NOT met'})")
    print(f"  release -> final transcript, batch       {batch_s * 1000:7.0f} ms  "
          f"(streaming / batch = {stream_s / batch_s:.2f}x)")
    print(f"  release -> first answer token            {answer_s * 1000:7.0f} ms  (target <= 800 ms: "
          f"{'met' if answer_s <= 0.8 else 'NOT met'})")
    print(f"  release -> first answer token, batch     {batch_answer_s * 1000:7.0f} ms  (no live passes, no "
          f"prefill; streaming / batch = {answer_s / batch_answer_s:.2f}x)")
    for model, value in rtf.items():
        print(f"  real-time factor {model:16}        {value:7.3f}")
    print(f"  Piper first audio, 20-word sentence      {tts * 1000:7.0f} ms")
    return 0
