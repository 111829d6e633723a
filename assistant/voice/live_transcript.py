"""Live text while push-to-talk is held, and the final text decoded the way files are.

Plain Python, no Qt and no threads: the caller feeds 16 kHz chunks (`add_audio`), asks whether a
transcription is due (`next_request`), sends that audio to the speech engine with `pass_options` and hands
the segments back (`accept`).

Two kinds of pass. *Live* passes show the user what is heard while they talk: they decode the growing
clip's tail with the short encoder input (engines/whisper_short.py), fast enough to run every second.
Decoding the whole clip on every pass would grow slower the longer the user talks, so text that can no
longer change is *committed*: a segment that ends well before the end of the audio it was decoded from,
and that the pass before decoded with the same words (local agreement: a decode of audio cut mid-phrase
can run ahead of the speech, e.g. JFK's "ask not what your country can do for you" came back twice at
8.5 s, and the next pass did not repeat that), has its words settled. A segment's end time can be early,
so the tail's first words may repeat the committed last ones: that overlap is dropped.

The *final* pass makes the text that is sent: the whole clip (up to one Whisper window, WHOLE_CLIP_S),
decoded as a file is (full 30 s window, the file path's VAD), so push-to-talk hears exactly as well as
plain faster-whisper. The short input is ~2x cheaper but heard worse on speech it was not tuned on: one
short pass over each whole measuring clip made 17.3 % word errors where the full window made 14.7 % and
plain faster-whisper 14.3 % (12 sets, 144 clips); no confidence threshold separated its wrong decodes
from its right ones (redoing the 52 least sure of 144 still left 15.6 %). A longer clip's final pass
decodes its uncommitted tail the same way.

Endpointing: the final pass starts as soon as the speaker pauses (PAUSE_S of quiet after speech), key
still held; at release, when nothing loud followed it, its text is the transcript and no decode is
needed after the key comes up. Loudness is measured per 20 ms frame as audio arrives, relative to the
loudest frame so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.protocols import Segment, TranscriptionOptions
from assistant.voice.transcript_words import transcript_words

RATE = 16_000
STEP_S = 1.0  # new audio needed before another live pass (one pass in flight at a time)
SETTLE_S = 1.5  # a segment ending this long before the end of its audio will not change
MIN_FINAL_S = 0.3  # a shorter tail at release holds no word worth a pass
WHOLE_CLIP_S = 30.0  # a clip up to one Whisper window is decoded whole for its final text
SILENT_TAIL_S = 3.0  # a pass with no speech over this much audio: drop all but the last SETTLE_S
FRAME = RATE // 50  # 20 ms frames for the loudness check
PAUSE_S = 0.3  # this much quiet after speech starts a pass at once (endpointing)
# Audio ending in this much quiet gets no live pass: the speaker may be stopping, and the engine decodes
# one pass at a time, so a live pass begun now would hold up the final pass due PAUSE_S after the words.
QUIET_END_S = 0.1
QUIET_BELOW_PEAK_DB = 30.0  # a frame this far below the loudest frame so far is not speech
QUIET_FLOOR_DB = -50.0  # ...and never louder than this (dBFS) counts as quiet
MIN_OVERLAP, MAX_OVERLAP = 2, 8  # words repeated across a cut that are dropped as a decoding overlap
# A final pass's detected language is kept for the clip's later live passes only when this sure: it
# may have heard only a second or two, and on a noisy clip that was named Thai or Tagalog at 0.5-0.6.
# (Live passes' short input is not asked: it named Welsh and Thai for English speech surely enough.)
KEEP_LANGUAGE_FROM = 0.8


@dataclass(frozen=True)
class PassRequest:
    """Audio to decode now. `final`: decoded as files are, for the text that is sent; otherwise a live
    pass, for the text shown while the key is held."""

    audio: np.ndarray
    final: bool


def pass_options(
    language: str | None, task: str = "transcribe", context: tuple[str, ...] = (), *, final: bool = False
) -> TranscriptionOptions:
    """How a push-to-talk pass is asked for (the window and `assistant bench voice` alike): the engine's
    decoding settings (engines/whisper_decoding.py); live passes with its short encoder input."""
    return TranscriptionOptions(
        language=language, task=task, short_context=not final, context=context  # type: ignore[arg-type]
    )


class LiveTranscriber:
    """The state of one push-to-talk recording: committed text, provisional text, what to decode next."""

    def __init__(self, *, step_s: float = STEP_S, settle_s: float = SETTLE_S) -> None:
        self.step_s, self.settle_s = step_s, settle_s
        self._chunks: list[np.ndarray] = []
        self._audio = np.zeros(0, dtype=np.float32)  # joined lazily, when a request needs it
        self._total = 0  # samples received
        self._committed_at = 0  # samples before this are settled (their text is in _committed)
        self._committed: list[str] = []
        self._provisional = ""
        self._requested_until = 0  # end (samples) of the audio sent in the latest request
        self._pending: tuple[int, int, bool] | None = None  # (start, end, final) of the request in flight
        # The latest final pass: the end (samples) of the audio it heard and the whole text it makes.
        self._final: tuple[int, str] | None = None
        self._showing_final = False  # no live pass came after it: the window shows its text
        self._frame_db: list[float] = []  # loudness of each whole 20 ms frame received
        self._partial_frame = np.zeros(0, dtype=np.float32)
        self._previous: tuple[int, list[list[str]]] = (-1, [])  # (start, words per segment) of the last pass
        self.passes = 0  # live passes sent (for logging and tests)

    # ---- audio in ------------------------------------------------------------------------------

    def add_audio(self, chunk: np.ndarray) -> None:
        samples = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if samples.size:
            self._chunks.append(samples)
            self._total += samples.size
            self._measure(samples)

    def _measure(self, samples: np.ndarray) -> None:
        """Loudness per 20 ms frame, kept as audio arrives so checks never rescan the clip."""
        joined = np.concatenate([self._partial_frame, samples])
        whole = joined.size // FRAME * FRAME
        frames = joined[:whole].reshape(-1, FRAME)
        rms = np.sqrt(np.mean(frames * frames, axis=1) + 1e-12)
        self._frame_db.extend((20 * np.log10(rms)).tolist())
        self._partial_frame = joined[whole:]

    def _has_speech(self, start: int, end: int | None = None) -> bool:
        """Whether any frame between two sample positions is loud enough to be speech."""
        frames = self._frame_db[start // FRAME : None if end is None else end // FRAME]
        if not frames:
            return False
        threshold = max(QUIET_FLOOR_DB, max(self._frame_db) - QUIET_BELOW_PEAK_DB)
        return max(frames) > threshold

    def _final_due(self) -> bool:
        """The speaker paused (PAUSE_S of quiet) after words the latest final pass did not hear."""
        pause = round(PAUSE_S * RATE)
        heard_until = self._final[0] if self._final is not None else 0
        return (
            self._total - pause >= heard_until + FRAME
            and not self._has_speech(self._total - pause)
            and self._has_speech(heard_until, self._total - pause)
        )

    @property
    def samples(self) -> int:
        return self._total

    @property
    def seconds(self) -> float:
        return self._total / RATE

    @property
    def committed_seconds(self) -> float:
        return self._committed_at / RATE

    @property
    def in_flight(self) -> bool:
        return self._pending is not None

    def audio(self) -> np.ndarray:
        """Everything received so far, as one array."""
        if self._chunks:
            self._audio = np.concatenate([self._audio, *self._chunks])
            self._chunks.clear()
        return self._audio

    # ---- live passes ---------------------------------------------------------------------------

    def next_request(self) -> PassRequest | None:
        """What to decode now, or None (a pass is in flight, or too little new audio).

        The speaker paused: the final pass, so the text is ready, and the answer's prompt evaluated,
        before the key comes up. Otherwise a live pass over the uncommitted tail, once a step of new
        audio with something loud in it has come, while the speaker is still making sound.
        """
        if self._pending is not None:
            return None
        if self._final_due():
            return self._request(final=True)
        if self._total - self._requested_until < self.step_s * RATE:
            return None
        if not self._has_speech(self._requested_until):
            return None  # nothing new to show
        if not self._has_speech(self._total - round(QUIET_END_S * RATE)):
            return None  # perhaps the end of the question: keep the engine free for the final pass
        return self._request(final=False)

    def accept(self, segments: Sequence[Segment]) -> None:
        """Results of the request in flight (times from the start of the audio it sent)."""
        if self._pending is None:
            raise RuntimeError("no request in flight")
        start, end, final = self._pending
        self._pending = None
        segments = [s for s in segments if s.text.strip()]
        if final:
            self._final, self._showing_final = (end, self._joined(start, segments)), True
            return
        self._showing_final = False
        sent_s = (end - start) / RATE
        heard = [transcript_words(s.text) for s in segments]
        before = self._previous[1] if self._previous[0] == start else []
        self._previous = (start, heard)
        settled = 0
        for index, segment in enumerate(segments):
            agreed = index < len(before) and before[index] == heard[index]
            if segment.end > sent_s - self.settle_s or not agreed:
                break
            settled += 1
        if settled:
            last = segments[settled - 1]
            cut_s = last.end
            if settled < len(segments):  # cut in the pause between two segments, not at a word's edge
                cut_s = max(last.end, min((last.end + segments[settled].start) / 2, last.end + 0.5))
            self._committed.extend(self._after_committed(self._committed, s.text) for s in segments[:settled])
            self._committed = [text for text in self._committed if text]
            self._committed_at = min(end, start + round(cut_s * RATE))
        elif not segments and sent_s > SILENT_TAIL_S:
            # No speech in seconds of audio: later passes need not decode that silence again.
            self._committed_at = end - round(self.settle_s * RATE)
        self._provisional = self._after_committed(
            self._committed, " ".join(s.text.strip() for s in segments[settled:])
        )

    def abandon(self) -> None:
        """The request in flight failed: forget it (its audio is decoded again by a later pass)."""
        self._pending = None

    @property
    def text(self) -> str:
        """What to show while the user talks: the final pass's text until a live pass comes after it;
        otherwise settled words, then the latest guess at the rest."""
        if self._showing_final and self._final is not None:
            return self._final[1]
        return " ".join(part for part in (*self._committed, self._provisional) if part)

    def text_if_released(self) -> str | None:
        """The final transcript if the key were let go now without another word; None when unsure.

        Known when the latest final pass heard everything said so far (release would reuse it). The
        window uses this to get the answer's prompt evaluated while the key is still held.
        """
        if self._pending is not None or self._final is None or self._has_speech(self._final[0]):
            return None
        return self._final[1] or None

    # ---- release -------------------------------------------------------------------------------

    def final_request(self) -> PassRequest | None:
        """At release: the final pass, or None when none is needed (nothing said after the latest
        final pass, or nothing to decode)."""
        if self._pending is not None:
            raise RuntimeError("wait for the pass in flight first")
        if self._final is not None and not self._has_speech(self._final[0]):
            return None  # endpointing: the final pass at the speaker's pause heard it all
        start = self._final_start()
        if self._total - start < MIN_FINAL_S * RATE or not self._has_speech(start):
            return None  # nothing loud in it, or too short a tail to hold a word
        return self._request(final=True)

    def finish(self, segments: Sequence[Segment]) -> str:
        """The whole transcript: the final pass's text (the one at release, or the reused one)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._final = (pending[1], self._joined(pending[0], segments))
        elif self._final is None:  # nothing worth a pass: what the live passes settled, if anything
            self._final = (self._total, " ".join(self._committed))
        self._committed, self._provisional = [self._final[1]] if self._final[1] else [], ""
        self._committed_at, self._showing_final = self._total, False
        return self.text

    def _joined(self, start: int, segments: Sequence[Segment]) -> str:
        """A final pass's whole text: its segments, after the committed text when it decoded a tail."""
        texts = [s.text.strip() for s in segments if s.text.strip()]
        if start > 0 and texts:
            texts[0] = self._after_committed(self._committed, texts[0])
        return " ".join(part for part in ((*self._committed, *texts) if start > 0 else texts) if part)

    def _final_start(self) -> int:
        """Where a final pass starts: the whole clip when it fits one Whisper window, else the tail."""
        return 0 if self._total <= WHOLE_CLIP_S * RATE else self._committed_at

    @staticmethod
    def _after_committed(committed: Sequence[str], text: str) -> str:
        """`text` without words that repeat the end of `committed` (a segment that ended early).

        Two words at least: a single repeated word ("...told you. You should...") is often really said.
        """
        tail = transcript_words(" ".join(committed[-3:]))
        said = text.strip().split()
        for size in range(min(MAX_OVERLAP, len(tail), len(said)), MIN_OVERLAP - 1, -1):
            if [w for token in said[:size] for w in transcript_words(token)] == tail[-size:]:
                return " ".join(said[size:])
        return text.strip()

    def _request(self, *, final: bool) -> PassRequest:
        audio = self.audio()
        start = self._final_start() if final else self._committed_at
        self._pending = (start, self._total, final)
        self._requested_until = self._total
        self.passes += 1
        return PassRequest(audio[start : self._total].copy(), final)
