"""Read answers aloud: each sentence of the streaming answer is spoken as soon as it is complete.

Everything here runs on the GUI thread: the controller hands this object every engine event first.
Tokens of the answer go through `SentenceSplitter`; each finished sentence becomes a SynthesizeRequest
that the engine process speaks on its own speech thread, beside the answer still streaming there;
the SpeechAudio that comes back is queued on a callback OutputStream that PortAudio's thread plays.
Nothing here waits: a sentence costs one pipe write, a chunk one buffer append, so the text streams as
fast with speech as without. numpy and sounddevice are imported on first use, not at start-up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

from assistant.host.messages import Done, Event, Failed, SpeechAudio, Token
from assistant.voice.speech_text import SentenceSplitter

if TYPE_CHECKING:
    from assistant.audio.playback import SpeechOutput
    from assistant.chat.session import ChatSession
    from assistant.host.client import EngineClient
    from assistant.ui.status_bar import StatusBar

logger = logging.getLogger(__name__)

VOICE = "piper-joe-medium"  # the catalogue's voice (models/catalog.toml, role "tts")
IDLE_CHECK_MS = 250  # the stream stops calling back after two checks with nothing to play
VOICE_FAILED = "Answers cannot be read aloud: {message}"


class ReadAloud(QObject):
    """Speaks the answers of one window while its `read_aloud` setting is on."""

    def __init__(self, session: ChatSession, client: EngineClient, data_dir: Path, status: StatusBar,
                 sound_device: Any | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._client = client
        self._data_dir = data_dir
        self._status = status
        self._sound_device = sound_device  # None: the real sounddevice, loaded on first use
        self._output: SpeechOutput | None = None
        self._splitter = SentenceSplitter()
        self._answer: int | None = None  # the chat request whose text is being spoken
        self._muted = True  # this answer is not spoken (setting off, no speaker, silenced)
        self._requests: set[int] = set()  # speech requests not yet ended; their events are ours
        self._audible: set[int] = set()  # those whose audio is still wanted
        self._voice_failed = False  # its note is shown once per session
        self._closed = False
        self._idle_ticks = 0
        self._idle = QTimer(self)
        self._idle.setInterval(IDLE_CHECK_MS)
        self._idle.timeout.connect(self._pause_when_idle)

    @property
    def speaking(self) -> bool:
        """Sentences are being synthesised or played."""
        output = self._output
        return bool(self._audible) or (output is not None and output.playing and output.pending_frames > 0)

    @property
    def pending_requests(self) -> frozenset[int]:
        return frozenset(self._requests)

    def handle_event(self, event: Event) -> bool:
        """Take speech events (True); watch the answer's tokens and end, leaving them to the caller."""
        rid = getattr(event, "request_id", None)
        if rid in self._requests:
            self._speech_event(event)
            return True
        turn = self._session.active_turn
        if self._closed or turn is None or rid != turn.request_id:
            return False
        if isinstance(event, Token):
            self._feed(rid, event.text)
        elif isinstance(event, Done) and event.status == "complete":
            self._finish(rid)
        return False

    def silence(self) -> None:
        """Stop at once (Stop, a new question, push-to-talk): drop every sentence not yet played."""
        self._muted = True
        for rid in self._audible:
            self._client.drop(rid)  # the engine answers them 'stopped'; their ends are still ours
        self._audible.clear()
        self._splitter.reset()
        if self._output is not None:
            self._output.silence()
        self._idle.stop()

    def close(self) -> None:
        """The window closes: silence and let the sound card go."""
        self.silence()
        self._closed = True
        if self._output is not None:
            self._output.close()

    # ---- internals -------------------------------------------------------------------------------

    def _feed(self, rid: int, text: str) -> None:
        if rid != self._answer:  # the first token of a new answer
            self.silence()
            self._answer = rid
            self._muted = not self._session.settings.read_aloud or not self._speaker_available()
        elif not self._muted and not self._session.settings.read_aloud:
            self.silence()  # switched off in the settings mid-answer
        if not self._muted:
            for sentence in self._splitter.feed(text):
                self._say(sentence)

    def _finish(self, rid: int) -> None:
        if rid == self._answer and not self._muted:
            for sentence in self._splitter.flush():  # the last sentence needs no text after it
                self._say(sentence)

    def _say(self, sentence: str) -> None:
        try:
            rid = self._client.synthesize(VOICE, self._data_dir, sentence)
        except Exception:  # the engine could not be started: the answer stays text only
            logger.exception("Could not ask the engine to speak")
            self.silence()
            return
        self._requests.add(rid)
        self._audible.add(rid)

    def _speech_event(self, event: Event) -> None:
        rid = event.request_id  # type: ignore[union-attr]  # every speech event carries one
        if isinstance(event, SpeechAudio):
            if rid in self._audible and self._output is not None:
                if self._output.play(event.samples, event.sample_rate):
                    self._idle_ticks = 0
                    self._idle.start()
                else:
                    self.silence()  # the stream would not open: text only (the output said so once)
        elif isinstance(event, (Done, Failed)):
            self._requests.discard(rid)
            audible = rid in self._audible
            self._audible.discard(rid)
            # A crash is reported for the answer already; a voice that cannot load is said once.
            if isinstance(event, Failed) and audible and event.kind != "crashed":
                self.silence()
                if not self._voice_failed:
                    self._voice_failed = True
                    self._status.show_error(VOICE_FAILED.format(message=event.message))

    def _speaker_available(self) -> bool:
        if self._output is None:
            from assistant.audio.playback import SpeechOutput  # numpy, on first use only

            self._output = SpeechOutput(self._sound_device, on_note=self._status.show_info)
        return self._output.available()

    def _pause_when_idle(self) -> None:
        output = self._output
        if output is not None and (self._audible or output.pending_frames):
            self._idle_ticks = 0
            return
        self._idle_ticks += 1
        if output is None or self._idle_ticks >= 2:
            self._idle.stop()
            # PortAudio has played nothing but padding for a whole check by now, so aborting loses no
            # speech and, unlike a draining stop, does not make the GUI thread wait for the device.
            if output is not None:
                output.silence()
