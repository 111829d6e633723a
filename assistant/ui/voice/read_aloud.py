"""Read answers aloud: each sentence of the streaming answer is spoken as soon as it is complete.

Everything here runs on the GUI thread: the controller hands this object the answer's events
(`answer_event`). Tokens of the answer go through `SentenceSplitter`; each finished sentence becomes a
SynthesizeRequest, bound to this object's handler,
that the engine process speaks on its own speech thread, beside the answer still streaming there;
the SpeechAudio that comes back is queued on a callback OutputStream that PortAudio's thread plays.
Nothing here waits: a sentence costs one pipe write, a chunk one buffer append, so the text streams as
fast with speech as without. numpy and sounddevice are imported on first use, not at start-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

from assistant.host.client import Ticket
from assistant.host.messages import Done, Event, Failed, SpeechAudio, SynthesizeRequest, Token
from assistant.voice.speech_text import SentenceSplitter

if TYPE_CHECKING:
    from assistant.audio.playback import SpeechOutput
    from assistant.chat.session import ChatSession, Turn
    from assistant.host.client import EngineClient
    from assistant.ui.status_bar import StatusBar

logger = logging.getLogger(__name__)

VOICE = ""  # the catalogue's default voice (models/catalog.toml, role "tts"), chosen in the engine
IDLE_CHECK_MS = 250  # the stream stops calling back after two checks with nothing to play
VOICE_FAILED = "Answers cannot be read aloud: {message}"


@dataclass(eq=False)
class _Sentence:
    """One sentence sent to the engine to be spoken."""

    text: str
    ticket: Ticket | None = None


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
        self._answer: Turn | None = None  # the answer whose text is being spoken
        self._muted = True  # this answer is not spoken (setting off, no speaker, silenced)
        self._requests: set[_Sentence] = set()  # speech requests not yet ended
        self._audible: set[_Sentence] = set()  # those whose audio is still wanted
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
        return frozenset(s.ticket.request_id for s in self._requests if s.ticket is not None)

    def answer_event(self, turn: Turn, event: Event) -> None:
        """An event of the answer being written (the controller passes each on): speak its sentences."""
        if self._closed:
            return
        if isinstance(event, Token):
            self._feed(turn, event.text)
        elif isinstance(event, Done) and event.status == "complete":
            self._finish(turn)

    def silence(self) -> None:
        """Stop at once (Stop, a new question, push-to-talk): drop every sentence not yet played."""
        self._muted = True
        for sentence in self._audible:
            if sentence.ticket is not None:
                sentence.ticket.drop()  # the engine answers them 'stopped'; their ends are still ours
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

    def _feed(self, turn: Turn, text: str) -> None:
        if turn is not self._answer:  # the first token of a new answer
            self.silence()
            self._answer = turn
            self._muted = not self._session.settings.read_aloud or not self._speaker_available()
        elif not self._muted and not self._session.settings.read_aloud:
            self.silence()  # switched off in the settings mid-answer
        if not self._muted:
            for sentence in self._splitter.feed(text):
                self._say(sentence)

    def _finish(self, turn: Turn) -> None:
        if turn is self._answer and not self._muted:
            for sentence in self._splitter.flush():  # the last sentence needs no text after it
                self._say(sentence)

    def _say(self, text: str) -> None:
        sentence = _Sentence(text)
        try:
            sentence.ticket = self._client.send(SynthesizeRequest(VOICE, str(self._data_dir), text),
                                                partial(self._speech_event, sentence))
        except Exception:  # the engine could not be started: the answer stays text only
            logger.exception("Could not ask the engine to speak")
            self.silence()
            return
        self._requests.add(sentence)
        self._audible.add(sentence)

    def _speech_event(self, sentence: _Sentence, event: Event) -> None:
        """One sentence's handler (GUI thread)."""
        if isinstance(event, SpeechAudio):
            if sentence in self._audible and self._output is not None:
                if self._output.play(event.samples, event.sample_rate):
                    self._idle_ticks = 0
                    self._idle.start()
                else:
                    self.silence()  # the stream would not open: text only (the output said so once)
        elif isinstance(event, (Done, Failed)):
            self._requests.discard(sentence)
            audible = sentence in self._audible
            self._audible.discard(sentence)
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
