"""Push-to-talk in the window: hold the mic button (or the key), see the words live, release to send.

Threads: the recorder calls `on_level` / `on_chunk` on its converter thread; they only emit signals,
which Qt queues to this object on the GUI thread. Transcriptions run in the engine process; each pass's
events come back to that pass's own handler, on the GUI thread through the bridge. numpy, the
recorder and sounddevice are imported on first use, never at start-up (the window must appear fast).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from assistant.host.client import Ticket
from assistant.host.messages import (
    Done,
    Event,
    Failed,
    Progress,
    TranscribeRequest,
    Transcript,
    TranscriptionStarted,
)
from assistant.protocols import Segment, TranscriptionOptions
from assistant.ui.voice.mic_panel import HoldKey, MicPanel

if TYPE_CHECKING:
    from assistant.audio.recorder import Recorder
    from assistant.ui.chat.controller import ChatController
    from assistant.voice.live_transcript import LiveTranscriber, PassRequest

logger = logging.getLogger(__name__)

TICK_MS = 100  # countdown, device health and the automatic stop at the length limit
COUNTDOWN_S = 10.0
MAX_SECONDS = 120.0
TOO_SHORT = "Too short: hold the button (or key) while you speak, then release it."
NOTHING_HEARD = "Nothing was recognised, so nothing was sent. Speak a little louder or closer."


@dataclass(eq=False)
class _Pass:
    """One transcription of the clip (or of its unsettled tail) in the engine."""

    final: bool  # decoded as files are, for the text that is sent (see voice/live_transcript.py)
    ticket: Ticket | None = None
    segments: list[Segment] = field(default_factory=list)


class PushToTalk(QObject):
    """Owns the mic button, the level meter, one recording at a time and its transcription requests."""

    # Emitted on the recorder's converter thread; queued to the GUI thread (this object lives there).
    level_measured = Signal(int, float)
    audio_arrived = Signal(int, object)
    transcribed = Signal(str, str)  # the final text and its language, once per recording with words

    def __init__(self, controller: ChatController, data_dir: Path, sound_device: Any | None = None) -> None:
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self._data_dir = data_dir
        self._sound_device = sound_device  # None: the real sounddevice, loaded on first use
        self._recorder: Recorder | None = None
        self._live: LiveTranscriber | None = None
        self._generation = 0  # tells this recording's queued chunks from a previous one's
        self._finishing = False  # released; waiting for the last transcription
        self._prefix = ""  # the draft the user had typed before talking
        self._language = ""
        self._live_pass: _Pass | None = None  # the pass in flight while the key is held (live or final)
        self._final_pass: _Pass | None = None  # the pass after release
        self._warning: str | None = None
        self._prefilled = ""  # the question whose prompt the engine was last asked to evaluate
        self._context: tuple[str, ...] = ()  # names and terms from the conversation, for the speech model
        self.max_seconds = MAX_SECONDS  # the recording stops by itself here (a stuck key, a long ramble)

        self.panel = MicPanel(self._key_text)
        self.button, self.meter = self.panel.button, self.panel.meter
        self.button.pressed.connect(self.begin)
        self.button.released.connect(self.end)
        row = self.window.composer.layout().itemAt(1).layout()  # [editor, Send]: the mic goes between
        row.insertWidget(1, self.panel, 0, Qt.AlignmentFlag.AlignBottom)
        self.key = HoldKey(self, self._key_text, lambda: self.busy)
        self.key.held.connect(self.begin)
        self.key.let_go.connect(self.end)
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self.level_measured.connect(self._show_level)
        self.audio_arrived.connect(self._take_audio)
        self.window.closing.connect(self._reset)  # no microphone left open behind a closed window
        self.window.installEventFilter(self.key)
        self.window.composer.editor.installEventFilter(self.key)

    def _key_text(self) -> str:
        return self.controller.session.settings.push_to_talk_key

    @property
    def recording(self) -> bool:
        return self._recorder is not None and self._recorder.is_recording

    @property
    def heard_everything(self) -> bool:
        """The text shown is final: a final pass heard all that was said (release sends it at once)."""
        return self._live is not None and self._live.text_if_released() is not None

    @property
    def busy(self) -> bool:
        return self.recording or self._finishing

    def check_availability(self) -> bool:
        """Open the audio library and look for a microphone (after the window shows: imports numpy)."""
        if self._recorder is None:
            from assistant.audio.recorder import Recorder, load_sounddevice

            module = self._sound_device
            if module is None:
                module, _ = load_sounddevice()
            self._recorder = Recorder(  # the listeners run on its converter thread: signals hand over
                module,
                on_level=lambda level: self.level_measured.emit(self._generation, level),
                on_chunk=lambda chunk: self.audio_arrived.emit(self._generation, chunk),
            )
        if self.recording:
            return True
        available, reason = self._recorder.availability()
        self.panel.set_available(available, reason)
        if not available:
            self.window.status.show_info(reason)
        return available

    def begin(self) -> None:
        """Start recording (mic button pressed or key held)."""
        self.controller.silence_speech()  # never talk over the user (nor into the microphone)
        if self.busy or not self.check_availability():
            return
        if self.controller.session.active_turn is not None:
            # Talking over an answer means "stop, I have something else to ask" (barge-in). It also
            # keeps the live passes from queueing behind the answer in the serial engine process.
            self.controller.stop()
        from assistant.audio.recorder import MicrophoneError
        from assistant.voice.live_transcript import LiveTranscriber

        assert self._recorder is not None
        self._generation += 1
        self._live, self._language, self._warning = LiveTranscriber(), "", None
        self._prefilled = ""
        self._live_pass = self._final_pass = None  # an older recording's pass may still be out: ignored
        self._recorder.max_seconds = self.max_seconds  # read by start()
        try:
            self._recorder.start()
        except MicrophoneError as error:
            logger.warning("push-to-talk: %s", error.message)
            self.window.status.show_error(error.message)
            self._live = None
            return
        composer = self.window.composer
        draft = composer.draft().strip()
        self._prefix = f"{draft} " if draft else ""
        self._context = self._conversation_terms(draft)
        composer.editor.setReadOnly(True)  # live text only, until release
        self.panel.set_recording(True)
        self.window.status.show_info("Listening… release to stop.")
        self._timer.start()
        # The language the send will name is not heard yet: the set one is the best guess.
        self._prefill(draft, self.controller.session.settings.speech_language, open_end=True)

    def end(self) -> None:
        """Stop recording (released) and get the final transcript of the part not yet settled."""
        if not self.recording or self._recorder is None or self._live is None:
            return
        recording = self._stop_recorder()
        live = self._live
        live.add_audio(recording.audio[live.samples :])
        if recording.too_short:
            self._give_up(TOO_SHORT)
            return
        self._warning = recording.warning
        self._finishing = True
        if not live.in_flight:
            self._send_final()  # otherwise once the live pass in flight is back (the engine is serial)

    def _stop_recorder(self) -> Any:
        assert self._recorder is not None
        recording = self._recorder.stop()
        self._timer.stop()
        self._generation += 1  # chunks still queued belong to the clip just returned, taken whole
        self.panel.set_recording(False)
        return recording

    def _show_level(self, generation: int, level: float) -> None:
        if generation == self._generation and self.recording:
            self.panel.set_level(level)

    def _take_audio(self, generation: int, chunk: Any) -> None:
        if generation != self._generation or self._live is None or self._finishing:
            return
        self._live.add_audio(chunk)
        self._request_live()

    def _tick(self) -> None:
        recorder = self._recorder
        if recorder is None or not self.recording:
            return
        if recorder.reached_limit:
            self.end()
        elif problem := recorder.health():
            self.window.status.show_error(problem)
        elif (remaining := recorder.remaining_seconds()) <= COUNTDOWN_S:
            self.window.status.show_info(f"Recording stops in {math.ceil(remaining)} s…")

    def _options(self, final: bool) -> TranscriptionOptions:
        settings = self.controller.session.settings
        # The user's language; else a live pass keeps the one a final pass detected in this clip, and a
        # final pass detects on its own whole window, as a file's decode does (a final pass at a pause
        # two words in named Welsh for English speech, and the clip's later passes kept it).
        kept = "" if final else self._language
        language = settings.speech_language or kept or None
        task = "translate" if settings.translate_to_english else "transcribe"
        from assistant.voice.live_transcript import pass_options  # numpy: not needed before the first hold

        return pass_options(language, task, self._context, final=final)

    def _conversation_terms(self, draft: str) -> tuple[str, ...]:
        """Names and terms in this chat and the draft, for the speech model to hear as written."""
        from assistant.voice.conversation_terms import conversation_terms

        texts: list[str] = []
        store, conversation = self.controller.store, self.controller.current_conversation_id
        if store is not None and conversation is not None:
            try:
                texts = [message.text for message in store.messages(conversation)]
            except Exception:  # only a hint for the speech model: talking works without it
                logger.exception("Could not read the conversation for its terms")
        return conversation_terms([*texts, draft])

    def _transcribe(self, wanted: PassRequest) -> _Pass | None:
        settings = self.controller.session.settings
        request = TranscribeRequest(settings.speech_model, str(self._data_dir), audio=wanted.audio,
                                    options=self._options(wanted.final), threads=settings.threads)
        transcription = _Pass(wanted.final)
        try:
            handler = partial(self._pass_event, transcription)
            transcription.ticket = self.controller.client.send(request, handler)
        except Exception as error:  # the window stays usable; the draft is kept
            logger.exception("Could not send audio to the engine")
            self._give_up(f"The speech could not be transcribed: {error}")
            return None
        return transcription

    def _request_live(self) -> None:
        assert self._live is not None
        wanted = self._live.next_request()
        if wanted is not None:
            self._live_pass = self._transcribe(wanted)

    def _send_final(self) -> None:
        assert self._live is not None
        wanted = self._live.final_request()
        if wanted is None:
            self._complete([])
            return
        self.window.status.show_info("Transcribing…")
        self._final_pass = self._transcribe(wanted)

    def _pass_event(self, transcription: _Pass, event: Event) -> None:
        """One pass's handler (GUI thread)."""
        if transcription is not self._live_pass and transcription is not self._final_pass:
            return  # a pass of a recording already finished or abandoned
        if isinstance(event, TranscriptionStarted):
            from assistant.voice.live_transcript import KEEP_LANGUAGE_FROM

            # Kept from a final pass only (for the live passes): it detects on Whisper's whole window. A
            # live pass's short input named Welsh or Thai for English speech, surely enough to keep.
            if transcription.final and event.language and event.language_probability >= KEEP_LANGUAGE_FROM:
                self._language = self._language or event.language
        elif isinstance(event, Transcript):
            transcription.segments.append(event.segment)
        elif isinstance(event, Progress) and event.stage != "transcribe" and event.message:
            self.window.status.show_info(event.message)  # the speech model is being prepared
        elif isinstance(event, (Done, Failed)):
            if transcription is self._live_pass:
                self._live_done(transcription.segments, event)
            else:
                self._final_pass = None
                if isinstance(event, Failed):
                    self._give_up(f"The speech could not be transcribed: {event.message}")
                else:
                    self._complete(transcription.segments)

    def _live_done(self, segments: list[Segment], event: Done | Failed) -> None:
        self._live_pass = None
        live = self._live
        if live is None:
            return
        if isinstance(event, Failed):
            live.abandon()  # its audio is decoded again by the next pass, or the final one
            self.window.status.show_error(f"The speech could not be transcribed: {event.message}")
        else:
            live.accept(segments)
            if not self._finishing and live.text:
                self.window.composer.set_draft(self._prefix + live.text)
                self._prefill_expected_question()
        if self._finishing:
            self._send_final()
        elif self.recording:
            self._request_live()

    def _prefill_expected_question(self) -> None:
        """The speaker paused: have the engine evaluate the question as it stands, key still held.

        If they let go without another word, that exact prompt is sent and its first token comes
        without evaluating it (the largest part of release -> first token). If they go on talking,
        the work is wasted but harmless: the next prompt shares everything up to this question.
        """
        assert self._live is not None
        text = self._live.text_if_released()
        if text:
            self._prefill(self._prefix + text, self._language, open_end=False)

    def _prefill(self, question: str, language: str, *, open_end: bool) -> None:
        """Have the engine evaluate the prompt release would send, as far as it is known.

        At key press (`open_end`) that is the conversation up to where the question will go: a new
        conversation's system prompt, or one opened from the history, is then evaluated while the user
        talks instead of after release. The engine is serial, so a long uncached conversation holds
        the first live passes back; its prompt had to be evaluated before the answer anyway.
        """
        session = self.controller.session
        if not session.settings.send_on_release or self.window.composer.attachments():
            return  # no sending at release, or attachments take another path: nothing to predict
        if question == self._prefilled and not open_end:
            return
        try:
            ticket = session.prefill(self.controller.current_conversation_id, question,
                                     spoken_language=language or None, open_end=open_end)
        except Exception:  # only a speed-up: the question is still sent normally at release
            logger.exception("Could not ask the engine to prepare the question")
            return
        if ticket is not None and not open_end:
            self._prefilled = question  # its events change nothing here

    def _complete(self, segments: list[Segment]) -> None:
        assert self._live is not None
        text = self._live.finish(segments)
        if not text:
            self._give_up(f"{NOTHING_HEARD} {self._warning or ''}".strip())
            return
        self._reset()
        composer, status = self.window.composer, self.window.status
        composer.set_draft(self._prefix + text)
        language = self._language or "?"
        self.transcribed.emit(text, language)
        session = self.controller.session
        if session.settings.send_on_release:
            before = session.active_turn
            self.controller.send(composer.draft(), spoken_language=self._language)
            if session.active_turn is before:
                return  # not sent (an answer still streams...): the controller said why; the draft stays
        status.show_info(f"Heard ({language}): {text}")

    def _give_up(self, message: str) -> None:
        """Nothing is sent: say why and give the user back the draft they had."""
        self._reset()
        self.window.composer.set_draft(self._prefix.rstrip())
        self.window.status.show_error(message)

    def _reset(self) -> None:
        if self.recording:
            self._stop_recorder()  # abandoned: the audio is dropped
        self._finishing = False
        self._final_pass = None
        self._live = None  # a live pass still in flight finds no recording and is dropped
        self.window.composer.editor.setReadOnly(False)
        self.panel.set_recording(False)
