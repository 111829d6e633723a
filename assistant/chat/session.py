"""One conversation turn from question to stored answer, shared by the window and the CLI.

Plain Python with no threads and no Qt: the answer's request is bound to the session's own handler,
which the engine client runs on the caller's thread (the GUI thread in the window, through the bridge;
the main thread in the CLI, through an `Inbox`); the caller's listener then gets each event with the
`TurnUpdate` it caused. The question is saved before
anything is sent to the engine, and the answer is saved while it streams, so neither a crash of the
engine nor of the window loses more than the last half second of text.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from assistant.chat import sampling
from assistant.history.store import Store, StoreError
from assistant.host.client import EngineClient, Handler, Ticket
from assistant.host.messages import ChatRequest, Done, EngineConfig, Event, Failed, Token
from assistant.images import kept
from assistant.models.fit import resolve_chat_model
from assistant.models.traits import model_traits
from assistant.models.vision_pairing import chat_model_pair
from assistant.prompt import vision_history
from assistant.prompt.conversation import MAX_CHARS_PER_TOKEN, PromptTooLong
from assistant.prompt.grounding import GroundedQuestion
from assistant.prompt.texts import conversation_title, spoken_language_instruction
from assistant.protocols import ChatMessage, GenerationOptions
from assistant.settings import Settings

logger = logging.getLogger(__name__)

# Messages the model may see again as history; a failed answer holds an error text, not an answer.
HISTORY_STATUSES = ("complete", "stopped", "interrupted")
FLUSH_INTERVAL_S = 0.5


class QuestionTooLong(ValueError):
    """Refused before saving: the question alone cannot fit the model's context window."""


@dataclass
class Turn:
    """The answer being written now; `text` is everything streamed so far (the source of truth)."""

    conversation_id: int
    user_message_id: int
    assistant_message_id: int
    text: str = ""
    model: str = ""
    sampling: dict = field(default_factory=dict)  # what the answer is sampled with (chat/sampling.py)
    ticket: Ticket | None = None  # the answer's request in the engine, once sent
    # Answered without a model (`GroundedQuestion.reply`: the documents do not cover the question): the
    # answer is stored complete by `send`, and no event follows.
    answered: bool = False


@dataclass(frozen=True)
class TurnUpdate:
    """What changed after one event, for the caller to show."""

    turn: Turn
    status: str  # "streaming" while tokens arrive, then the final stored status
    finished: bool
    error: str | None = None  # user-facing: why the answer failed, or why it could not be saved
    store_failed: bool = False  # the answer is intact in `turn.text` but not (fully) on disk
    timings: dict = field(default_factory=dict)  # when finished, with "sampling": the values it used


# Gets every event of the answer's request, with what it changed (None: nothing about the answer, such
# as a model loading first).
TurnListener = Callable[[Event, TurnUpdate | None], None]


class ChatSession:
    """Sends questions to the engine and keeps the store in step with what streams back."""

    def __init__(
        self,
        store: Store | None,
        client: EngineClient,
        settings: Settings,
        data_dir: Path,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Without a store (`ask --no-save`) history lives in memory for this session only.
        self._store = store if store is not None else Store.in_memory()
        self._client = client
        self._settings = settings
        self._data_dir = Path(data_dir)
        self._flush_interval_s = flush_interval_s
        self._clock = clock
        self._active: Turn | None = None
        self._last_flush = 0.0
        self._flushed_text = ""
        self._store_error_reported = False

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def active_turn(self) -> Turn | None:
        return self._active

    def apply_settings(self, settings: Settings) -> None:
        """Used from the next question on; an answer already streaming keeps its settings."""
        self._settings = settings

    def model_name(self) -> str:
        """The chat model that answers: the setting's, or the automatic choice (`models.fit`)."""
        return resolve_chat_model(self._settings.model, self._data_dir)

    def engine_config(self) -> EngineConfig:
        # from_settings also carries the remote server's endpoint when it is the chosen model.
        return EngineConfig.from_settings(self._settings, self._data_dir)

    def send(
        self,
        conversation_id: int | None,
        text: str,
        *,
        spoken_language: str | None = None,
        grounded: GroundedQuestion | None = None,
        images: Sequence[str] = (),
        on_event: TurnListener | None = None,
    ) -> Turn:
        """Save the question, start the answer. Raises ValueError or StoreError with nothing sent.

        The caller keeps the user's draft on either exception: the question was not (fully) saved.
        `spoken_language` is the language Whisper heard when the question was spoken; with the setting
        "answer in the language I spoke" the model is told to answer in it. With `grounded` (attachments
        already perceived, see `grounding_job`) the model gets `grounded.prompt`, while the history keeps
        `text` as what the user asked and stores the attachments and groundings beside it. `images`
        (kept copies, see `images_for`) go to a model that can see them, with the newest message; their
        groundings are marked as seen, so "What the model was told" says the image itself was sent.
        `on_event` gets each event of the answer after the session applied it (stored it). A grounded
        question with a `reply` is stored with that reply as its complete answer and sends nothing: the
        returned turn is `answered` and no event follows.
        """
        if not text.strip():
            raise ValueError("Type a question first.")
        if self._active is not None:
            raise ValueError("An answer is still being written: wait for it or press Stop.")
        prompt = grounded.prompt if grounded is not None else text
        budget = self._settings.context_size
        if len(prompt) > budget * MAX_CHARS_PER_TOKEN:
            # Cheap bound (no tokenizer): refusing here keeps a megabyte paste out of the history.
            raise QuestionTooLong(str(PromptTooLong(len(prompt) // MAX_CHARS_PER_TOKEN, budget)))

        store = self._store
        if conversation_id is None:
            conversation_id = store.create_conversation(conversation_title(_title_text(text, grounded)))
        model = self.model_name()
        sees = chat_model_pair(model, self._data_dir) is not None  # earlier images go back with history
        # Read before writing: a read error leaves no trace.
        history = self._history(conversation_id, with_images=sees)
        if grounded is not None and images:
            sent = {Path(path).stem for path in images}  # a kept copy is named by its sha256
            grounded = dataclasses.replace(grounded, groundings=tuple(
                dataclasses.replace(g, seen=True) if g.kind == "image" and g.image in sent else g
                for g in grounded.groundings
            ))
        if grounded is None:
            user_id = store.add_message(conversation_id, "user", text)
        else:
            user_id = store.add_message(
                conversation_id,
                "user",
                text,
                prompt=prompt if prompt != text else None,
                attachments=grounded.attachments,
                groundings=grounded.groundings,
            )
        if grounded is not None and grounded.reply is not None:
            assistant_id = store.add_message(conversation_id, "assistant", grounded.reply,
                                             timings={"answered_by": grounded.answered_by})
            return Turn(conversation_id, user_id, assistant_id, text=grounded.reply, answered=True)
        assistant_id = store.add_message(conversation_id, "assistant", "", status="streaming", model=model)
        history.append(ChatMessage("user", prompt, images=tuple(images)))
        history = self._with_language(history, spoken_language)
        # Sampling by model size and by the question the user typed (not the grounded prompt).
        chosen = sampling.choose(model_traits(model, self._data_dir), sampling.classify(text), self._settings)
        options = chosen.options(self._settings.max_answer_tokens)
        request = ChatRequest(self.engine_config(), tuple(history), options)
        turn = Turn(conversation_id, user_id, assistant_id, model=model, sampling=chosen.record())
        try:
            turn.ticket = self._client.send(request, partial(self._receive, turn, on_event))
        except Exception as error:
            logger.exception("The engine did not accept the question")
            self._safe_update(assistant_id, text=f"The engine could not start: {error}", status="failed")
            raise
        self._active = turn
        self._last_flush = self._clock()
        self._flushed_text = ""
        self._store_error_reported = False
        return self._active

    def images_for(self, grounded: GroundedQuestion | None) -> tuple[str, ...]:
        """The kept copies of the question's images when the chat model can see images, else ().

        A text-only model gets only the images' grounding text; a vision GGUF with its projector (the
        engine loads it so, by the same `chat_model_pair`) gets the images themselves as well.
        """
        hashes = [g.image for g in grounded.groundings if g.kind == "image" and g.image] if grounded else []
        if not hashes or chat_model_pair(self.model_name(), self._data_dir) is None:
            return ()
        paths = [kept.kept_path(sha, self._data_dir) for sha in hashes]
        return tuple(str(path) for path in paths if path is not None)

    def stop(self) -> bool:
        """Ask the engine to stop; a Done(status='stopped') follows and keeps the partial answer."""
        if self._active is None or self._active.ticket is None:
            return False
        self._active.ticket.cancel()
        return True

    def _receive(self, turn: Turn, listener: TurnListener | None, event: Event) -> None:
        """The answer request's handler (on the caller's thread): store first, then tell the listener."""
        # A turn closed with the window (or ended) is no longer written: its late events change nothing.
        update = self._apply(turn, event) if turn is self._active else None
        if listener is not None:
            listener(event, update)

    def _apply(self, turn: Turn, event: Event) -> TurnUpdate | None:
        """Apply one event of the answer being written; None when it changes nothing about the answer."""
        if isinstance(event, Token):
            turn.text += event.text
            error = None
            if self._clock() - self._last_flush >= self._flush_interval_s:
                error = self._flush(turn)
            return TurnUpdate(turn, "streaming", False, error=error, store_failed=error is not None)
        if isinstance(event, Done):
            # The engine's record of what its sampler got; the reason stays from the request.
            turn.sampling = {**turn.sampling, **event.stats.sampling}
            return self._finish(turn, event.status, event.stats.as_dict(), None)
        if isinstance(event, Failed):
            status = "interrupted" if event.kind == "crashed" else "failed"
            timings = {"error": event.message, "error_kind": event.kind}
            return self._finish(turn, status, timings, event.message)
        return None

    def close(self) -> None:
        """The window is closing mid-answer: keep what streamed, marked interrupted."""
        turn, self._active = self._active, None
        if turn is not None:
            self._safe_update(
                turn.assistant_message_id, text=turn.text, status="interrupted", sampling=turn.sampling
            )

    def _finish(self, turn: Turn, status: str, timings: dict, error: str | None) -> TurnUpdate:
        self._active = None
        text = turn.text
        if status == "failed" and not text.strip() and error:
            text = error  # nothing streamed: the stored message says why instead of staying blank
        store_error = self._safe_update(
            turn.assistant_message_id, text=text, status=status, timings=timings, sampling=turn.sampling
        )
        if store_error:
            error = f"{error}\n{store_error}" if error else store_error
        return TurnUpdate(turn, status, True, error=error, store_failed=store_error is not None,
                          timings={**timings, "sampling": turn.sampling})

    def _flush(self, turn: Turn) -> str | None:
        """Write the partial answer; returns a store error only the first time it happens."""
        self._last_flush = self._clock()
        if turn.text == self._flushed_text:
            return None
        try:
            self._store.update_message(turn.assistant_message_id, text=turn.text)
        except StoreError as error:
            logger.warning("Partial answer not saved: %s", error)
            if self._store_error_reported:
                return None
            self._store_error_reported = True
            return str(error)
        self._flushed_text = turn.text
        return None

    def _safe_update(self, message_id: int, **changes: object) -> str | None:
        try:
            self._store.update_message(message_id, **changes)  # type: ignore[arg-type]
        except StoreError as error:
            logger.warning("Answer not saved: %s", error)
            return str(error)
        return None

    def prefill(
        self,
        conversation_id: int | None,
        text: str,
        *,
        spoken_language: str | None = None,
        grounded: GroundedQuestion | None = None,
        open_end: bool = False,
        on_event: Handler | None = None,
    ) -> Ticket | None:
        """Have the engine evaluate the prompt `send(conversation_id, text, ...)` would send, now.

        Nothing is stored. Push-to-talk calls this once the speaker pauses with the key still held:
        when they let go without saying more, the question's prompt is already in the KV cache and the
        first token comes without evaluating it. The window calls it with `grounded` while the user
        types about perceived images (`ui/typing_prefill.py`). `open_end`: `text` is only the question's
        start (push-to-talk's key press, before a word: the draft typed so far, or nothing), evaluated
        up to its end. None when nothing was sent (see `prefill_request`).
        """
        request = self.prefill_request(conversation_id, text, spoken_language=spoken_language,
                                       grounded=grounded, open_end=open_end)
        return None if request is None else self._client.send(request, on_event or _ignore)

    def prefill_request(
        self,
        conversation_id: int | None,
        text: str,
        *,
        spoken_language: str | None = None,
        grounded: GroundedQuestion | None = None,
        open_end: bool = False,
    ) -> ChatRequest | None:
        """The prefill-only request `prefill` sends. A grounding job also hands one to the engine with an
        image (`PerceiveRequest.prefill`): the prompt's start, evaluated while the image is read.

        None when there is nothing to prepare: an answer is streaming, the prompt is too long to send,
        or the model sees this question's images (the vision handlers evaluate every question afresh;
        a vision model's own `prefill` prepares nothing either).
        """
        prompt = grounded.prompt if grounded is not None else text
        if self._active is not None or not (text.strip() or open_end):
            return None
        if len(prompt) > self._settings.context_size * MAX_CHARS_PER_TOKEN or self.images_for(grounded):
            return None
        history = self._history(conversation_id) if conversation_id is not None else self._system()
        history = self._with_language([*history, ChatMessage("user", prompt)], spoken_language)
        # Only the prompt is evaluated: sampling plays no part (and draws no seed) until the question is sent.
        options = GenerationOptions(max_tokens=self._settings.max_answer_tokens)
        return ChatRequest(self.engine_config(), tuple(history), options, prefill_only=True,
                           open_end=open_end)

    def _system(self) -> list[ChatMessage]:
        prompt = self._settings.system_prompt
        return [ChatMessage("system", prompt)] if prompt.strip() else []

    def _with_language(self, history: list[ChatMessage], spoken_language: str | None) -> list[ChatMessage]:
        s = self._settings
        # Translated speech arrives in English, so the spoken language no longer says what to answer in.
        if not s.answer_in_spoken_language or s.translate_to_english:
            return history
        instruction = spoken_language_instruction(spoken_language)
        if instruction is None:
            return history
        if history and history[0].role == "system":
            system = ChatMessage("system", f"{history[0].content}\n\n{instruction}")
            return [system, *history[1:]]
        return [ChatMessage("system", instruction), *history]

    def _history(self, conversation_id: int, *, with_images: bool = False) -> list[ChatMessage]:
        """The conversation as the model sees it. `with_images` (a model that sees images): the user
        messages keep the images they were shared with (read from the store, so a reopened chat works
        the same), the most recent `vision_history.MAX_EARLIER_IMAGES` of them."""
        messages = self._system()
        shared: list[tuple[int, tuple[str, ...]]] = []  # (index in `messages`, kept copies)
        for message in self._store.messages(conversation_id):
            if message.role not in ("user", "assistant") or message.status not in HISTORY_STATUSES:
                continue
            # A grounded question goes back as the model first saw it, transcript included, so a
            # follow-up ("and what did she say next?") can still be answered from the recording.
            if message.text.strip():
                if with_images and message.role == "user":
                    paths = message.kept_images(self._data_dir)
                    if paths:
                        shared.append((len(messages), paths))
                messages.append(ChatMessage(message.role, message.sent_text))  # type: ignore[arg-type]
        for index, paths in vision_history.most_recent(shared):
            messages[index] = dataclasses.replace(messages[index], images=paths)
        return messages


def _ignore(event: Event) -> None:
    pass


def _title_text(text: str, grounded: GroundedQuestion | None) -> str:
    """A chat that starts from a recording is named after it: "interview.mp3: Summarise this…"."""
    if grounded is None or not grounded.attachments:
        return text
    return f"{grounded.attachments[0].name}: {text}"
