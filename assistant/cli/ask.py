"""`assistant ask`: one question through the same session, engine process and store as the window.

With `--audio FILE` the recording is transcribed first (in the engine process, like `transcribe`) and
with `--image IMAGE` the image's text is read (OCR, and CLIP labels when a CLIP model is installed);
both may be repeated and combined. The question is then asked about what was found, by the same
`GroundingJob` the window uses; see `audio_question` for how long recordings are handled. What the
user typed is stored as the question, the groundings beside it and each image's copy in the data
folder, exactly as when the files are dropped on the window; the images also go into the image library
(with their CLIP embeddings) for `search-images` and the window's image search.

With `--docs` the question is answered from the user's indexed documents (`assistant docs add`), and with
`--doc FILE` from that document (read whole when it fits, else its passages that answer): the answer
cites its passages inline ([1]) and a "Sources:" block follows it on stdout, naming each cited file and
page. When the documents hold nothing relevant, the answer says so and no model is asked.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant import settings as settings_module
from assistant.chat.grounding_job import GroundingError, GroundingJob, JobUpdate, check_room
from assistant.chat.session import ChatSession, TurnUpdate
from assistant.chat.shared_images import SharedImages
from assistant.history.store import Store, StoreError
from assistant.host.client import EngineClient, Inbox
from assistant.host.messages import Done, Event, Failed, Progress, Token
from assistant.prompt import attachments
from assistant.prompt.documents import sources_block
from assistant.prompt.grounding import GroundedQuestion, passages
from assistant.settings import Settings

logger = logging.getLogger(__name__)


def ask(
    text: str,
    *,
    model: str | None = None,
    save: bool = True,
    audio: str | Sequence[str] | None = None,
    images: Sequence[str] = (),
    docs: bool = False,
    documents: Sequence[str] = (),
) -> int:
    """Stream the answer to stdout; progress and errors go to stderr. Exit code 0 on a full answer."""
    recordings = [audio] if isinstance(audio, str) else list(audio or ())
    if docs and not text.strip() and not (recordings or images or documents):
        print("assistant: ask a question about your documents: assistant ask --docs TEXT", file=sys.stderr)
        return 2
    settings = settings_module.load_settings()
    if model:
        settings.model = model
    data_dir = settings_module.data_dir()

    # Handlers run on this (main) thread, as they run on the GUI thread in the window.
    inbox = Inbox()
    client = EngineClient(inbox.deliver)
    store: Store | None = None
    try:
        grounded: GroundedQuestion | None = None
        shared = SharedImages()
        if recordings or images or documents or docs:
            # Perceive (and summarise, search) before opening the store: a failure there leaves no trace.
            try:
                grounded = _ground(client, inbox, settings, data_dir, recordings, images, text, shared,
                                   documents=documents, use_documents=docs)
            except GroundingError as error:
                print(f"assistant: {error}", file=sys.stderr)
                return error.exit_code
            text = grounded.question
        try:
            store = Store(settings_module.history_path()) if save else None
        except StoreError as error:
            print(f"assistant: {error} (answering without saving)", file=sys.stderr)
        if store is not None and store.damaged:  # open read-only: answer, say why it is not saved
            print(f"assistant: {store.damaged} (answering without saving)", file=sys.stderr)
            store.close()
            store = None
        session = ChatSession(store, client, settings, data_dir)
        printer = _AnswerPrinter()
        try:
            turn = session.send(None, text, grounded=grounded, images=session.images_for(grounded),
                                on_event=printer)
        except (ValueError, StoreError) as error:
            print(f"assistant: {error}", file=sys.stderr)
            return 2
        if store is not None:  # the library points at stored messages: none without the history
            shared.record(data_dir, turn.conversation_id, turn.user_message_id)
        if turn.answered:  # the documents do not cover the question: no model was asked
            print(turn.text)
            return 0
        # Ctrl+C is Stop: the partial answer is kept (status "stopped"), then we exit.
        inbox.pump_until(lambda: printer.exit_code is not None, on_interrupt=session.stop)
        if grounded is not None:
            sources = sources_block(turn.text, passages(grounded.groundings), grounded.question)
            if sources:
                print(f"\n{sources}")
        return printer.exit_code or 0
    finally:
        client.shutdown()
        if store is not None:
            store.close()


class _AnswerPrinter:
    """The answer's listener: tokens to stdout as they come, then the exit code."""

    def __init__(self) -> None:
        self.exit_code: int | None = None

    def __call__(self, event: Event, update: TurnUpdate | None) -> None:
        if isinstance(event, Token):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Progress) and event.total:
            _show_progress(event)
        elif isinstance(event, Done):
            print()
            self.exit_code = 0 if event.status == "complete" else 130
        elif isinstance(event, Failed):
            print(f"\nassistant: {event.message}", file=sys.stderr)
            self.exit_code = 1


def _show_progress(event: Progress) -> None:
    percent = min(100, 100 * event.done // event.total)
    print(f"\r{event.stage}: {percent}%", end="", file=sys.stderr, flush=True)
    if event.done >= event.total:
        print(file=sys.stderr)


# ---- asking about recordings and images -----------------------------------------------------------


def _ground(
    client: EngineClient,
    inbox: Inbox,
    settings: Settings,
    data_dir: Path,
    audio: Sequence[str],
    images: Sequence[str],
    question: str,
    shared: SharedImages,
    *,
    documents: Sequence[str] = (),
    use_documents: bool = False,
) -> GroundedQuestion:
    """Transcribe the recordings, read the images and documents, search the documents library: the
    same job the window runs.

    The images' engine reports are noted in `shared`, for the image library once the question is stored.
    """
    try:
        # Checked here so a typo, a folder or a URL is refused before the engine and its models start.
        files = [attachments.from_path(path, kinds=("audio",)) for path in audio]
        files += [attachments.from_path(path, kinds=("image",)) for path in images]
        files += [attachments.from_path(path, kinds=("document",)) for path in documents]
        check_room(settings)
    except attachments.AttachmentRefused as error:
        raise GroundingError(str(error)) from error
    log = _JobLog()

    def noticed(event: Event) -> None:  # every event of the job's requests, on this thread
        shared.note(event)
        # Seconds of audio make a useful percentage; an image's few steps are named instead.
        if isinstance(event, Progress) and event.total and event.stage != "perceive":
            _show_progress(event)

    job = GroundingJob(client, settings, data_dir, files, question, on_update=log, on_event=noticed,
                       use_documents=use_documents)
    update = log(job.start())
    if not update.finished:
        inbox.pump_until(lambda: job.finished, on_interrupt=job.cancel)  # Ctrl+C: the step stops
        update = log.last
    if update.cancelled:
        raise GroundingError("stopped", exit_code=130)
    if update.error is not None or update.result is None:
        raise GroundingError(update.error or "The attachments could not be used.", exit_code=update.exit_code)
    return update.result


class _JobLog:
    """The job's listener: one stderr line per step (a transcription, a part summary, an image)."""

    def __init__(self) -> None:
        self.last = JobUpdate("Preparing")
        self._step = -1

    def __call__(self, update: JobUpdate) -> JobUpdate:
        self.last = update
        if update.step != self._step and not update.finished:
            self._step = update.step
            print(f"{update.message}…", file=sys.stderr, flush=True)
        return update
