"""Short-clip decoding for push-to-talk's live passes: the Whisper encoder sees the clip, not a 30 s window.

faster-whisper always pads the audio to Whisper's 30 s window before the encoder, so a 3 s clip costs
as much as a 30 s one (~1 s for base on 2 cores, most of the time between "key released" and "text
ready"). CTranslate2's encoder accepts shorter input, and its cost falls with the length: for 3 s of
audio plus PAD_S of silence the encoder runs ~4× faster. The decoder then reads timestamps and text as
usual. Quality: on clean clips tiny.en is as accurate as with the full window; base loses a little,
so a decode that looks unreliable (low log-probability, or repeating itself) falls back to the full
window. Only clips up to MAX_SHORT_S take this path; longer audio goes the ordinary way.

Only the live passes take it, for the text shown while the key is held: on the measuring sets base
heard worse through it than through the full window (17.3 vs 14.7 % word errors, 144 clips), so the
text that is sent comes from the full-window final pass (voice/live_transcript.py).

The padding is *audio* silence, appended before the log-Mel features are computed (as openai-whisper
pads). faster-whisper pads its 30 s window with zeros in the feature domain instead; for a short input
that is 1 s of steady mid-level "sound" after the speech, and the decoder heard more speech in it: a
clip of "What is the capital of France?" came back as that question repeated up to the token limit,
and push-to-talk sent it twice. Padded with silence, the decoder ends after the last word.
"""

from __future__ import annotations

import itertools
import logging
import zlib
from dataclasses import dataclass

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens
from faster_whisper.vad import VadOptions, get_speech_timestamps

from assistant.engines.audio_decode import SAMPLE_RATE
from assistant.engines.whisper_decoding import (
    PUSH_TO_TALK_VAD,
    SHORT_LANGUAGE_SURE,
    Decoding,
    heard_nothing,
)
from assistant.protocols import Segment, TranscriptionInfo
from assistant.voice.transcript_words import transcript_words

logger = logging.getLogger(__name__)

MAX_SHORT_S = 25.0  # longer clips need (most of) the full window anyway
# Silence after the speech, so the model hears that the sentence ended. With 1 s the decoder still
# went round on 17-21 % of clips cut where live passes cut them (10 sentences x 2 speeds, tiny.en and
# base); 3 s: 1 %; 4-5 s: none, and the words of whole clips matched the full window's.
PAD_S = 4.0
LENGTH_STEP_S = 1.0  # the encoder's input is a whole number of these (see padding())
EDGE_S = 0.2  # speech kept either side of what VAD found (VAD trims a little tightly)
TIME_STEP_S = 0.02  # one Whisper timestamp token
HOP = 160  # samples per log-Mel frame (10 ms)
MAX_INITIAL_TIMESTAMP = 50  # the first segment starts within 1 s (as faster-whisper's default)
# Whisper's own hallucination checks: below this average log-probability, or text compressing
# better than this (a phrase repeated over and over), the decode is not trusted.
LOGPROB_FLOOR = -1.0
COMPRESSION_CEILING = 2.4
NO_SPEECH_PROB = 0.6
# Nobody says more than ~6 tokens a second: a decode running past that is looping ("What is the
# capital? What is the capital? ..." on a clip cut mid-word), so it is cut short and then judged.
TOKENS_PER_S = 8
EXTRA_TOKENS = 12
# The short input loops more readily with a prompt: JFK's "And so my fellow Americans, ask not" cut at
# 3-4.2 s came back from tiny.en with the chat's names as hotwords ("France Paris") as "And so my fellow
# Americans. And so my fellow Americans. And so..." in one segment; the full window heard it once.
MIN_LOOP_WORDS = 2


class Unreliable(Exception):
    """The short decode may be wrong: the caller decodes the clip with the full window instead."""


@dataclass
class ShortResult:
    segments: list[Segment]
    language: str
    language_probability: float


def fits(samples: np.ndarray) -> bool:
    return len(samples) <= MAX_SHORT_S * SAMPLE_RATE


def speech_span(samples: np.ndarray, vad: VadOptions = PUSH_TO_TALK_VAD) -> tuple[int, int] | None:
    """First and last sample of speech (Silero VAD), with a little margin; None for silence."""
    stamps = get_speech_timestamps(samples, vad)
    if not stamps:
        return None
    edge = int(EDGE_S * SAMPLE_RATE)
    return max(0, stamps[0]["start"] - edge), min(len(samples), stamps[-1]["end"] + edge)


def transcribe_short(
    model: WhisperModel, samples: np.ndarray, options: Decoding, info: TranscriptionInfo
) -> list[Segment]:
    """Decode a push-to-talk clip with a short encoder input. Raises Unreliable to ask for a redo."""
    info.duration_s = len(samples) / SAMPLE_RATE
    offset = 0
    if options.vad is not None:
        span = speech_span(samples, options.vad)
        if span is None:
            info.language = options.language or ("" if model.model.is_multilingual else "en")
            return []
        offset, end = span
        samples = samples[offset:end]
    result = _decode(model, samples, options)
    info.language, info.language_probability = result.language, result.language_probability
    shift = offset / SAMPLE_RATE
    return [Segment(s.start + shift, s.end + shift, s.text) for s in result.segments]


def padding(clip_samples: int) -> int:
    """Samples of silence after a clip of this length: at least PAD_S, up to a whole LENGTH_STEP_S of
    clip and silence together. The encoder's input then takes one of a few dozen lengths instead of a
    new one on nearly every pass, and each new length costs memory the engine keeps (the CPU kernels
    are prepared per shape): 60 passes of JFK cut at random lengths took tiny.en from 155 to 274 MB,
    the same length 60 times to 209 MB; in the soak the engine grew in steps during spoken turns."""
    step = round(LENGTH_STEP_S * SAMPLE_RATE)
    least = clip_samples + round(PAD_S * SAMPLE_RATE)
    return -(-least // step) * step - clip_samples


def _decode(model: WhisperModel, samples: np.ndarray, options: Decoding) -> ShortResult:
    frames = len(samples) // HOP  # of the clip itself; the features also cover the padding
    silence = np.zeros(padding(len(samples)), dtype=np.float32)
    features = model.feature_extractor(np.concatenate([samples.astype(np.float32), silence]))
    encoder_output = model.encode(pad_or_trim(features, min(3000, features.shape[-1])))
    language, probability = _language(model, encoder_output, options)
    multilingual = model.model.is_multilingual
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task=options.task, language=language)
    prompt = model.get_prompt(tokenizer, [], without_timestamps=False, hotwords=options.hotwords)
    result = model.model.generate(
        encoder_output,
        [prompt],
        beam_size=options.beam_size,
        max_length=min(model.max_length, len(prompt) + EXTRA_TOKENS + int(frames / 100 * TOKENS_PER_S)),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
        max_initial_timestamp_index=MAX_INITIAL_TIMESTAMP,
    )[0]
    tokens = result.sequences_ids[0]
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)  # length_penalty 1, as faster-whisper
    text = tokenizer.decode([t for t in tokens if t < tokenizer.timestamp_begin]).strip()
    if (result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOGPROB_FLOOR) or heard_nothing(
        text, result.no_speech_prob, avg_logprob, options.hotwords
    ):
        return ShortResult([], language, probability)  # Whisper's own "this is not speech", or a cough
    if text and (avg_logprob < LOGPROB_FLOOR or _compression_ratio(text) > COMPRESSION_CEILING):
        raise Unreliable(f"log-probability {avg_logprob:.2f}, text {text!r}")
    segments = _segments(tokens, tokenizer, frames / 100)
    if tokens and tokens[-1] < tokenizer.timestamp_begin and len(segments) > 1:
        # Cut off mid-segment after whole segments: the token budget ran out on a decode going round.
        raise Unreliable(f"no end to the last segment: {text!r}")
    if any(transcript_words(a.text) == transcript_words(b.text) for a, b in itertools.pairwise(segments)):
        raise Unreliable(f"a segment repeats the one before: {text!r}")
    if repeats_a_phrase(text):
        raise Unreliable(f"a phrase comes twice in a row: {text!r}")
    return ShortResult(segments, language, probability)


def repeats_a_phrase(text: str, shortest: int = MIN_LOOP_WORDS) -> bool:
    """Whether some run of `shortest` or more words comes twice in a row ("and so my fellow Americans.
    And so my fellow Americans."): the decoder going round inside one segment, which the compression
    check misses while the text is short. Only a redo follows, so a phrase really said twice costs a
    full-window decode, not a word."""
    words = transcript_words(text)
    for size in range(shortest, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return True
    return False


def _language(model: WhisperModel, encoder_output: object, options: Decoding) -> tuple[str, float]:
    if options.language:
        return options.language, 1.0
    if not model.model.is_multilingual:
        return "en", 1.0
    token, probability = model.model.detect_language(encoder_output)[0][0]
    if probability < SHORT_LANGUAGE_SURE:
        raise Unreliable(f"language {token} only {probability:.2f} likely on the short input")
    return token[2:-2], float(probability)  # "<|de|>" -> "de"


def _segments(tokens: list[int], tokenizer: Tokenizer, duration_s: float) -> list[Segment]:
    """Split `<|0.00|> text <|2.40|><|2.40|> more <|4.00|>` into timed segments.

    The encoder heard PAD_S of silence after the audio, so a timestamp may point into it:
    times are clamped to the audio's own length.
    """
    segments: list[Segment] = []
    start: float | None = None
    words: list[int] = []
    for token in tokens:
        if token < tokenizer.timestamp_begin:
            words.append(token)
            continue
        time = (token - tokenizer.timestamp_begin) * TIME_STEP_S
        if start is None:
            start = time
            continue
        _add(segments, tokenizer, words, start, min(time, duration_s))
        words, start = [], None
    _add(segments, tokenizer, words, start or 0.0, duration_s)  # text after the last timestamp
    return segments


def _add(segments: list[Segment], tokenizer: Tokenizer, words: list[int], start: float, end: float) -> None:
    text = tokenizer.decode(words).strip()
    if text:
        start = min(start, end)
        segments.append(Segment(start, end, text))



def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))
