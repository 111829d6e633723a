"""Live text while push-to-talk is held: transcribe the growing clip's tail again and again.

Plain Python, no Qt and no threads: the caller feeds 16 kHz chunks (`add_audio`), asks whether a
transcription is due (`next_request`), sends that audio to the speech engine and hands the segments back
(`accept`). Decoding the whole clip on every pass would grow slower the longer the user talks, so text
that can no longer change is *committed*: a segment that ends well before the end of the audio it was
decoded from, and that the pass before decoded with the same words (local agreement: a decode of audio
cut mid-phrase can run ahead of the speech, e.g. JFK's "ask not what your country can do for you" came
back twice at 8.5 s, and the next pass did not repeat that), has its words settled. Committed audio is
never sent again; each pass, and the final one at release, decodes only the tail. A segment's end time
can be early, so the tail's first words may repeat the committed last ones: that overlap is dropped.

Endpointing: a pass also starts as soon as the speaker pauses (PAUSE_S of quiet after speech), and at
release, when nothing loud followed the latest pass, its text is final and no decode is needed at all.
Loudness is measured per 20 ms frame as audio arrives, relative to the loudest frame so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from assistant.protocols import Segment, TranscriptionOptions
from assistant.voice.transcript_words import transcript_words

RATE = 16_000
STEP_S = 1.0  # new audio needed before another live pass (one pass in flight at a time)
SETTLE_S = 1.5  # a segment ending this long before the end of its audio will not change
MIN_FINAL_S = 0.3  # a shorter tail at release holds no word worth a pass
SILENT_TAIL_S = 3.0  # a pass with no speech over this much audio: drop all but the last SETTLE_S
FRAME = RATE // 50  # 20 ms frames for the loudness check
PAUSE_S = 0.3  # this much quiet after speech starts a pass at once (endpointing)
QUIET_BELOW_PEAK_DB = 30.0  # a frame this far below the loudest frame so far is not speech
QUIET_FLOOR_DB = -50.0  # ...and never louder than this (dBFS) counts as quiet
MIN_OVERLAP, MAX_OVERLAP = 2, 8  # words repeated across a cut that are dropped as a decoding overlap
# A pass's detected language is kept for the rest of the clip only when this sure: the first passes
# hear a second or two, and on a noisy clip that was named Thai or Tagalog at 0.5-0.6.
KEEP_LANGUAGE_FROM = 0.8


def live_options(
    language: str | None, task: str = "transcribe", context: tuple[str, ...] = ()
) -> TranscriptionOptions:
    """How every push-to-talk pass is asked for (the window and `assistant bench voice` alike): the
    engine's decoding settings (engines/whisper_decoding.py) with its short encoder input."""
    return TranscriptionOptions(
        language=language, task=task, short_context=True, context=context  # type: ignore[arg-type]
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
        self._pending: tuple[int, int] | None = None  # (start, end) of the request in flight
        self._decoded_until = 0  # end (samples) of the audio the latest accepted pass decoded
        self._frame_db: list[float] = []  # loudness of each whole 20 ms frame received
        self._partial_frame = np.zeros(0, dtype=np.float32)
        self._reuse_live = False  # at release the latest live pass already heard everything
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

    def _speaker_paused(self) -> bool:
        """Speech since the last request, then PAUSE_S of quiet: a good moment for a pass."""
        new = self._total - self._requested_until
        pause = round(PAUSE_S * RATE)
        return (
            new >= pause + FRAME
            and not self._has_speech(self._total - pause)
            and self._has_speech(self._requested_until, self._total - pause)
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

    def next_request(self) -> np.ndarray | None:
        """The uncommitted tail to decode now, or None (a pass is in flight, or too little new audio)."""
        if self._pending is not None:
            return None
        if self._total - self._requested_until < self.step_s * RATE and not self._speaker_paused():
            return None
        return self._request()

    def accept(self, segments: Sequence[Segment]) -> None:
        """Results of the request in flight (times from the start of the audio it sent)."""
        if self._pending is None:
            raise RuntimeError("no request in flight")
        start, end = self._pending
        self._pending = None
        self._decoded_until = end
        sent_s = (end - start) / RATE
        segments = [s for s in segments if s.text.strip()]
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
            self._append(s.text for s in segments[:settled])
            self._committed_at = min(end, start + round(cut_s * RATE))
        elif not segments and sent_s > SILENT_TAIL_S:
            # No speech in seconds of audio: later passes need not decode that silence again.
            self._committed_at = end - round(self.settle_s * RATE)
        self._provisional = self._after_committed(" ".join(s.text.strip() for s in segments[settled:]))

    def abandon(self) -> None:
        """The request in flight failed: forget it (its audio is decoded again by a later pass)."""
        self._pending = None

    @property
    def text(self) -> str:
        """What to show while the user talks: settled words, then the latest guess at the rest."""
        return " ".join(part for part in (*self._committed, self._provisional) if part)

    def text_if_released(self) -> str | None:
        """The final transcript if the key were let go now without another word; None when unsure.

        True when the latest pass heard everything said so far (endpointing would reuse it). The
        window uses this to get the answer's prompt evaluated while the key is still held.
        """
        if self._pending is not None or self._decoded_until <= self._committed_at:
            return None
        if self._has_speech(self._decoded_until):
            return None  # words came after the latest pass: the final text will differ
        return self.text or None

    # ---- release -------------------------------------------------------------------------------

    def final_request(self) -> np.ndarray | None:
        """At release: only the uncommitted tail remains to decode (None when it is too short)."""
        if self._pending is not None:
            raise RuntimeError("wait for the live pass in flight first")
        if self._total - self._committed_at < MIN_FINAL_S * RATE:
            return None
        if self._decoded_until > self._committed_at and not self._has_speech(self._decoded_until):
            # Endpointing: nothing was said after the latest live pass, so its text is the final
            # text and the user waits for no decode at all after releasing the key.
            self._reuse_live = True
            return None
        return self._request()

    def finish(self, segments: Sequence[Segment]) -> str:
        """The whole transcript: committed text plus the final pass over the tail."""
        self._pending = None
        if self._reuse_live and self._provisional:
            self._committed.append(self._provisional)
        self._reuse_live = False
        self._provisional = ""
        self._append(s.text for s in segments)
        self._committed_at = self._total
        return self.text

    def _append(self, texts: Iterable[str]) -> None:
        for text in texts:
            if text := self._after_committed(text.strip()):
                self._committed.append(text)

    def _after_committed(self, text: str) -> str:
        """`text` without words that repeat the end of the committed text (a segment that ended early).

        Two words at least: a single repeated word ("...told you. You should...") is often really said.
        """
        tail = transcript_words(" ".join(self._committed[-3:]))
        said = text.split()
        for size in range(min(MAX_OVERLAP, len(tail), len(said)), MIN_OVERLAP - 1, -1):
            if [w for token in said[:size] for w in transcript_words(token)] == tail[-size:]:
                return " ".join(said[size:])
        return text

    def _request(self) -> np.ndarray:
        audio = self.audio()
        self._pending = (self._committed_at, self._total)
        self._requested_until = self._total
        self.passes += 1
        return audio[self._committed_at : self._total].copy()
