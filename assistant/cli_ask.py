"""`assistant ask`: one question through the same session, engine process and store as the window.

With `--audio FILE` the recording is transcribed first (in the engine process, like `transcribe`) and
the question is asked about its transcript; see `audio_question` for how long recordings are handled.
"""

from __future__ import annotations

import logging
import queue
import sys
from collections.abc import Iterator
from pathlib import Path

from assistant import audio_question
from assistant import settings as settings_module
from assistant.audio.errors import AudioError
from assistant.host.client import EngineClient
from assistant.host.messages import Done, EngineConfig, Event, Failed, Progress, Token, Transcript
from assistant.protocols import ChatMessage, GenerationOptions, Segment, TranscriptionOptions
from assistant.session import ChatSession
from assistant.settings import Settings
from assistant.store import Store, StoreError

logger = logging.getLogger(__name__)

# Guards the reduce loop: each round shrinks the summaries; a run this deep means something is off.
MAX_REDUCE_ROUNDS = 4


class AudioQuestionError(Exception):
    """Asking about the recording failed before the saved question; str() is the user-facing message."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def ask(text: str, *, model: str | None = None, save: bool = True, audio: str | None = None) -> int:
    """Stream the answer to stdout; progress and errors go to stderr. Exit code 0 on a full answer."""
    settings = settings_module.load_settings()
    if model:
        settings.model = model
    data_dir = settings_module.data_dir()

    # The client calls back on its reader thread; the queue hands events to this (main) thread.
    events: queue.Queue[Event] = queue.Queue()
    client = EngineClient(on_event=events.put)
    store: Store | None = None
    try:
        if audio is not None:
            # Transcribe and summarise before opening the store: a failure there leaves no trace.
            try:
                text = _audio_question(client, events, settings, data_dir, audio, text)
            except AudioQuestionError as error:
                print(f"assistant: {error}", file=sys.stderr)
                return error.exit_code
        try:
            store = Store(settings_module.history_path()) if save else None
        except StoreError as error:
            print(f"assistant: {error} (answering without saving)", file=sys.stderr)
        session = ChatSession(store, client, settings, data_dir)
        try:
            turn = session.send(None, text)
        except (ValueError, StoreError) as error:
            print(f"assistant: {error}", file=sys.stderr)
            return 2
        return _print_stream(session, events, turn.request_id)
    finally:
        client.shutdown()
        if store is not None:
            store.close()


def _print_stream(session: ChatSession, events: queue.Queue[Event], request_id: int) -> int:
    stopping = False
    while True:
        try:
            event = events.get()
        except KeyboardInterrupt:
            # Ctrl+C is Stop: the partial answer is kept (status "stopped"), then we exit.
            if not stopping:
                session.stop()
                stopping = True
            continue
        session.handle(event)
        if getattr(event, "request_id", None) != request_id:
            continue
        if isinstance(event, Token):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Progress) and event.total:
            _show_progress(event)
        elif isinstance(event, Done):
            print()
            return 0 if event.status == "complete" else 130
        elif isinstance(event, Failed):
            print(f"\nassistant: {event.message}", file=sys.stderr)
            return 1


def _show_progress(event: Progress) -> None:
    percent = min(100, 100 * event.done // event.total)
    print(f"\r{event.stage}: {percent}%", end="", file=sys.stderr, flush=True)
    if event.done >= event.total:
        print(file=sys.stderr)


# ---- asking about a recording --------------------------------------------------------------------


def _audio_question(
    client: EngineClient,
    events: queue.Queue[Event],
    settings: Settings,
    data_dir: Path,
    audio: str,
    question: str,
) -> str:
    """The user message to send through the session: grounded in the transcript or its summaries."""
    name = Path(audio).name
    if not Path(audio).expanduser().exists():
        # Checked here too so a typo does not wait for the engine and the speech model to start.
        error = AudioError(audio, "the file does not exist", "Check the file name and folder.")
        raise AudioQuestionError(str(error))
    budget = audio_question.prompt_budget(
        settings.context_size, settings.max_answer_tokens, settings.system_prompt
    )
    if budget < 4 * audio_question.MIN_SUMMARY_TOKENS:
        raise AudioQuestionError(
            f"The context window ({settings.context_size} tokens, {settings.max_answer_tokens} kept for "
            "the answer) leaves too little room for a transcript. Raise the context size or lower the "
            "answer length in Settings.",
            exit_code=2,
        )
    segments = _transcribe(client, events, settings, data_dir, audio)
    if not audio_question.has_speech(segments):
        raise AudioQuestionError(f"No speech was recognised in {audio}.")
    plan = audio_question.plan_parts(
        segments, name, question, budget_tokens=budget, max_answer_tokens=settings.max_answer_tokens
    )
    if plan.direct is not None:
        return plan.direct

    prompts = list(plan.parts)
    for round_number in range(MAX_REDUCE_ROUNDS):
        label = "summarising part" if round_number == 0 else "combining summaries"
        summaries = [
            _summarise(
                client, events, settings, data_dir, prompt, plan.summary_tokens, f"{label} {i}/{len(prompts)}"
            )
            for i, prompt in enumerate(prompts, start=1)
        ]
        final = audio_question.build_final_question(summaries, name, plan.question)
        if audio_question.fits(final, budget):
            return final
        prompts = audio_question.reduce_prompts(summaries, name, plan.question, budget)
        logger.info("Part summaries too long together; reducing %d summaries", len(summaries))
    raise AudioQuestionError(f"The recording {audio} is too long to summarise with this context window.")


def _transcribe(
    client: EngineClient, events: queue.Queue[Event], settings: Settings, data_dir: Path, audio: str
) -> list[Segment]:
    options = TranscriptionOptions(
        language=settings.speech_language or None,
        task="translate" if settings.translate_to_english else "transcribe",
    )
    print(f"Transcribing {audio}…", file=sys.stderr, flush=True)
    request_id = client.transcribe(
        settings.speech_model, data_dir, options, audio_path=audio, threads=settings.threads
    )
    segments: list[Segment] = []
    for event in _until_complete(client, events, request_id):
        if isinstance(event, Transcript):
            segments.append(event.segment)
        elif isinstance(event, Progress) and event.total:
            _show_progress(event)
    print(f"Transcribed {len(segments)} segments.", file=sys.stderr, flush=True)
    return segments


def _summarise(
    client: EngineClient,
    events: queue.Queue[Event],
    settings: Settings,
    data_dir: Path,
    prompt: str,
    max_tokens: int,
    label: str,
) -> str:
    """One map step: a chat request outside the session, so the intermediate answer is not saved."""
    print(f"{label}…", file=sys.stderr, flush=True)
    messages = [ChatMessage("system", settings.system_prompt)] if settings.system_prompt.strip() else []
    messages.append(ChatMessage("user", prompt))
    options = GenerationOptions(max_tokens=max_tokens, temperature=settings.temperature)
    request_id = client.chat(EngineConfig.from_settings(settings, data_dir), messages, options)
    text = ""
    for event in _until_complete(client, events, request_id):
        if isinstance(event, Token):
            text += event.text
        elif isinstance(event, Progress) and event.total:
            _show_progress(event)
    return text.strip() or "(nothing relevant in this part)"


def _until_complete(client: EngineClient, events: queue.Queue[Event], request_id: int) -> Iterator[Event]:
    """This request's events before its end; Failed or a stopped Done raise AudioQuestionError.

    Ctrl+C cancels the request; its Done("stopped") still arrives and ends the loop.
    """
    cancelled = False
    while True:
        try:
            event = events.get()
        except KeyboardInterrupt:
            if not cancelled:
                client.cancel(request_id)
                cancelled = True
            continue
        if getattr(event, "request_id", None) != request_id:
            continue
        if isinstance(event, Failed):
            raise AudioQuestionError(event.message)
        if isinstance(event, Done):
            if event.status != "complete":
                raise AudioQuestionError("stopped", exit_code=130)
            return
        yield event
