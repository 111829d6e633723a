"""How speech is decoded: the one place that turns the app's `TranscriptionOptions` into Whisper settings.

Files (`assistant transcribe`, recordings attached to a question) and push-to-talk passes all take
their settings from `decoding()`. The final pass of a held key (the text that is sent) is decoded
exactly as a file; its live passes differ only where latency asks for it (the short encoder input,
`engines/whisper_short.py`, and VAD's pause length), and read the same beam, prompt and thresholds.

Against plain faster-whisper (`WhisperModel.transcribe` with its defaults), measured per set with
`assistant bench voice --accuracy` (README, Performance):
- beam search, 5 wide (the library's default). The app used greedy decoding for files: on the tuning
  sets it lost 1.6 points of word error rate overall and up to 14 points on noisy clips, where a greedy
  decode fails Whisper's own checks and the temperature fallback then samples ("in one short, in one
  short, ..." for "in one short sentence" in babble);
- the temperature fallback, log-probability, compression and no-speech thresholds: the library's;
- Silero VAD on, with the library's parameters for files (silence and steady noise give no text;
  plain faster-whisper without VAD says " You" to 3 s of silence). Push-to-talk's clip is short, so
  half a second of quiet separates phrases there;
- a stricter no-speech check for short texts and for texts made only of the hotwords (`heard_nothing`):
  Silero takes a cough for speech, and Whisper's own check then lets "Oh", "Thank you very much." or
  the prompt's names through;
- no conditioning on earlier text: the app transcribes a long file window by window (memory stays
  bounded and Cancel works between windows), each window on its own, so one misheard phrase cannot
  repeat itself for minutes;
- the conversation's names and terms as `hotwords` (`voice/conversation_terms.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faster_whisper.vad import VadOptions

from assistant.protocols import TranscriptionOptions
from assistant.voice.transcript_words import transcript_words

BEAM_SIZE = 5
# Whisper's own "not speech" rule (faster-whisper drops a segment with no-speech probability over 0.6
# and average log-probability under -1.0) lets a cough or a breath through as "Oh", "I", "Thank you
# very much." or, with the conversation's terms as hotwords, as those terms ("Okafor Nobu"). What a
# non-speech sound yields is a few words, said unsurely: tuned on the tuning non-speech clips (other
# seeds than the measured ones) and short spoken answers ("Yes.", "No.", "Stop!"), those hallucinations
# had no-speech 0.43-0.59 and log-probability -0.77 to -1.31; the short answers 0.32 at most; noisy
# sentences that reached 0.4-0.48 were all 5 words or longer.
SHORT_TEXT_WORDS = 4
SHORT_TEXT_NO_SPEECH = 0.4
SHORT_TEXT_LOGPROB = -0.7
# A text made only of the hotwords ("Okafor Nobu", "Nobu- Nobu- Nobu-") is the model repeating its
# prompt: on the tuning coughs those had no-speech 0.24-0.50 and log-probability -0.83 to -0.96, while
# the names really said alone ("Okafor.", "Siobhan?") had 0.01-0.20 and -0.33 to -0.75.
ECHO_NO_SPEECH = 0.2
ECHO_LOGPROB = -0.8
# ...and with beam 5 whisper-base says the prompt back *surely*: the tuning coughs after a chat came back as
# "Nguyen Reykjavik" with log-probability -0.61 to -0.72 but no-speech 0.58-0.71. Names really said alone
# reached 0.20 at most, so an echo this likely to be no speech is dropped whatever its log-probability.
ECHO_SURE_NO_SPEECH = 0.35
FILE_VAD = VadOptions()  # faster-whisper's own defaults
# A held key: the clip is short, so a pause of 0.5 s already separates phrases.
PUSH_TO_TALK_VAD = VadOptions(min_silence_duration_ms=500, speech_pad_ms=200)
# The short encoder input detects a language less surely than the 30 s window (on noisy clips it named
# Thai or Tagalog with p 0.3-0.6 where the full window said English): below this it is not trusted.
SHORT_LANGUAGE_SURE = 0.7


@dataclass(frozen=True)
class Decoding:
    """Everything that decides how one clip is decoded."""

    language: str | None
    task: str
    beam_size: int
    vad: VadOptions | None
    short_context: bool  # push-to-talk: the encoder sees the clip plus silence, not a 30 s window
    hotwords: str | None

    def library_kwargs(self) -> dict[str, Any]:
        """The arguments for faster-whisper's `WhisperModel.transcribe` (full-window decoding)."""
        return {
            "language": self.language,
            "task": self.task,
            "beam_size": self.beam_size,
            "vad_filter": self.vad is not None,
            "vad_parameters": self.vad,
            "condition_on_previous_text": False,
            "hotwords": self.hotwords,
        }


def decoding(options: TranscriptionOptions) -> Decoding:
    """The settings for `options` (a file or a push-to-talk pass)."""
    vad = (PUSH_TO_TALK_VAD if options.short_context else FILE_VAD) if options.vad else None
    return Decoding(
        language=options.language,
        task=options.task,
        beam_size=options.beam_size or BEAM_SIZE,
        vad=vad,
        short_context=options.short_context,
        hotwords=" ".join(options.context) or None,
    )


def heard_nothing(text: str, no_speech_prob: float, avg_logprob: float, hotwords: str | None = None) -> bool:
    """A decoded segment that is most likely a non-speech sound heard as words (see above)."""
    said = transcript_words(text)
    echo = bool(said) and hotwords is not None and set(said) <= set(transcript_words(hotwords))
    if echo and (no_speech_prob >= ECHO_SURE_NO_SPEECH
                 or (no_speech_prob >= ECHO_NO_SPEECH and avg_logprob < ECHO_LOGPROB)):
        return True
    return (len(text.split()) <= SHORT_TEXT_WORDS and no_speech_prob >= SHORT_TEXT_NO_SPEECH
            and avg_logprob < SHORT_TEXT_LOGPROB)
