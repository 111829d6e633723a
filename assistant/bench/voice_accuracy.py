"""`assistant bench voice --accuracy`: word error rate per speech set, the app against plain faster-whisper.

Three transcripts of every file, in one process, on one loaded model (the same WhisperModel object, int8
on the app's thread count):
- raw: `faster_whisper.WhisperModel.transcribe(path)` with the library's defaults (beam 5, temperature
  fallback, conditioning on previous text, no VAD), the library decoding the file itself;
- file: the app's file path, exactly as the engine process runs it (`host.transcription.Transcription`
  on a `TranscribeRequest` with the options `assistant transcribe` and the window's attachments use);
- push-to-talk: the clip held as in the window: `LiveTranscriber` decides the live passes (fed in
  100 ms chunks, each pass decoded before more audio arrives: the most passes a fast machine makes),
  then the final pass (the whole clip decoded as files are, at the speaker's pause or at release), all
  with the window's options.
Scoring (`speech_score`) compares lower-case words without punctuation; the numbers set is also scored
as written ("7:30", "$12.50", "15%"), which is where number formatting shows.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.bench import speech_score
from assistant.bench.speech_sets import Sample, read_wav
from assistant.host.messages import Event, TranscribeRequest, Transcript, TranscriptionStarted
from assistant.host.transcription import Transcription
from assistant.protocols import ModelError, Segment, TranscriptionOptions
from assistant.voice.conversation_terms import conversation_terms
from assistant.voice.live_transcript import KEEP_LANGUAGE_FROM, LiveTranscriber, PassRequest, pass_options

logger = logging.getLogger(__name__)
CHUNK = 1600  # 100 ms at 16 kHz, as the recorder delivers audio


@dataclass
class Tally:
    """Word errors over a set, per way of transcribing."""

    errors: dict[str, int] = field(default_factory=dict)
    written_errors: dict[str, int] = field(default_factory=dict)
    words: int = 0
    written_words: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    worst: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # way -> (errors, reference, text)

    def add(self, way: str, reference: str, text: str, seconds: float) -> None:
        errors = speech_score.word_errors(reference, text)
        self.errors[way] = self.errors.get(way, 0) + errors
        written = speech_score.written_errors(reference, text)
        self.written_errors[way] = self.written_errors.get(way, 0) + written
        self.seconds[way] = self.seconds.get(way, 0.0) + seconds
        if errors > self.worst.get(way, (0, "", ""))[0]:
            self.worst[way] = (errors, reference, text)

    def rate(self, way: str) -> float:
        return self.errors.get(way, 0) / max(1, self.words)

    def written_rate(self, way: str) -> float:
        return self.written_errors.get(way, 0) / max(1, self.written_words)


class Comparison:
    """The app's ways of transcribing next to the raw library, on one model loaded once."""

    def __init__(self, model: str, data_dir: Path, threads: int = 0,
                 options: Callable[[], TranscriptionOptions] = TranscriptionOptions) -> None:
        self.events: list[Event] = []
        self.host = Transcription(self.events.append, lambda _rid: False, lambda _rid: None)  # type: ignore[arg-type,return-value]
        self.model_name, self.data_dir, self.threads = model, data_dir, threads
        self.file_options = options
        request = TranscribeRequest(model, str(data_dir), audio_path="", threads=threads)
        self.speech, _ = self.host.model(request)  # loaded (and assembled) once; the host caches it

    def raw(self, sample: Sample) -> str:
        """faster-whisper with its defaults, decoding the file itself (it has no conversation)."""
        segments, _ = self.speech.library_model.transcribe(str(sample.path))
        return " ".join(s.text.strip() for s in segments)

    def file(self, sample: Sample) -> str:
        """A recording attached to a question (`assistant transcribe` when the sample has no chat)."""
        self.events.clear()
        options = dataclasses.replace(self.file_options(), context=conversation_terms(sample.chat))
        request = TranscribeRequest(self.model_name, str(self.data_dir), audio_path=str(sample.path),
                                    options=options, threads=self.threads)
        self.host.transcribe(request)
        return " ".join(e.segment.text.strip() for e in self.events if isinstance(e, Transcript))

    def push_to_talk(self, sample: Sample) -> str:
        """The clip held in the window: live passes as `LiveTranscriber` asks for them, then the final one."""
        audio = read_wav(sample.path)
        live, language, context = LiveTranscriber(), None, conversation_terms(sample.chat)
        for start in range(0, audio.size, CHUNK):
            live.add_audio(audio[start : start + CHUNK])
            request = live.next_request()
            if request is not None:
                segments, found = self._pass(request, None if request.final else language, context)
                language = language or found
                live.accept(segments)
        tail = live.final_request()
        segments = self._pass(tail, None, context)[0] if tail is not None else []  # detects, as the window
        return live.finish(segments)

    def _pass(
        self, wanted: PassRequest, language: str | None, context: tuple[str, ...]
    ) -> tuple[list[Segment], str | None]:
        self.events.clear()
        options = pass_options(language, context=context, final=wanted.final)
        request = TranscribeRequest(self.model_name, str(self.data_dir), audio=wanted.audio,
                                    options=options, threads=self.threads)
        self.host.transcribe(request)
        started = [e for e in self.events if isinstance(e, TranscriptionStarted)]
        sure = bool(started) and started[0].language_probability >= KEEP_LANGUAGE_FROM
        found = started[0].language if wanted.final and sure else None  # kept for live passes, as the window
        return [e.segment for e in self.events if isinstance(e, Transcript)], found

    def run(self, samples: Sequence[Sample], ways: Sequence[str]) -> Tally:
        tally = Tally()
        for sample in samples:
            tally.words += len(speech_score.words(sample.reference))
            tally.written_words += len(speech_score.written_words(sample.reference))
            for way in ways:
                started = time.perf_counter()
                text = getattr(self, way.replace("-", "_"))(sample)
                tally.add(way, sample.reference, text, time.perf_counter() - started)
                logger.info("%s %s: %r", way, sample.name, text)
        return tally


def non_speech(
    comparison: Comparison, folder: Path, ways: Sequence[str], seed: int
) -> tuple[dict[str, list[str]], int]:
    """Per way, the non-speech clips that came back with any text (should be none), and the clips tried.

    The app's ways hear every clip twice: alone, and after a chat whose names become hotwords (the
    prompt must not make the model hear those names in a cough). The raw library takes no prompt.
    """
    from assistant.bench.speech_noise import non_speech_clips
    from assistant.bench.speech_sets import NAMES_CHAT, RATE, write_wav

    heard: dict[str, list[str]] = {way: [] for way in ways}
    clips = non_speech_clips(seed)
    for name, clip in clips.items():
        path = folder / f"non-speech-{seed}-{name.replace(' ', '-')}.wav"
        if not path.exists():
            write_wav(path, clip, RATE)
        for way in ways:
            for chat in ((), NAMES_CHAT):
                if chat and way == "raw":
                    continue
                text = getattr(comparison, way.replace("-", "_"))(Sample(path.stem, path, "", chat))
                if text.strip():
                    heard[way].append(f"{name}{' (chat)' if chat else ''}: {text.strip()!r}")
    return heard, len(clips)


def print_table(results: dict[str, Tally], ways: Sequence[str]) -> None:
    print(f"  {'set':24} {'words':>5}  " + "  ".join(f"{way:>12}" for way in ways) + "   app <= raw")
    for name, tally in results.items():
        rates = "  ".join(f"{100 * tally.rate(way):11.1f}%" for way in ways)
        app_ok = "raw" not in ways or all(tally.rate(w) <= tally.rate("raw") for w in ways if w != "raw")
        print(f"  {name:24} {tally.words:5d}  {rates}   {'yes' if app_ok else 'NO'}")
        if name == "numbers":
            written = "  ".join(f"{100 * tally.written_rate(way):11.1f}%" for way in ways)
            print(f"  {'numbers, as written':24} {tally.written_words:5d}  {written}")
    totals = {way: sum(t.errors.get(way, 0) for t in results.values()) for way in ways}
    words = sum(t.words for t in results.values())
    overall = "  ".join(f"{100 * totals[w] / max(1, words):11.1f}%" for w in ways)
    print(f"  {'all sets':24} {words:5d}  {overall}")
    clips = sum(1 for _ in results)
    seconds = {way: sum(t.seconds.get(way, 0.0) for t in results.values()) for way in ways}
    print(f"  decode time (s, {clips} sets)      " + "  ".join(f"{seconds[w]:12.1f}" for w in ways))


WAYS = ("raw", "file", "push-to-talk")


def main(argv: Sequence[str]) -> int:
    import argparse
    import tempfile

    from assistant import settings
    from assistant.bench.speech_sets import MEASURING, TUNING, SpeechSets
    from assistant.models import catalog

    parser = argparse.ArgumentParser(prog="assistant bench voice --accuracy")
    parser.add_argument("--model", default="whisper-base", help="speech model (default whisper-base)")
    parser.add_argument("--sets", default="all", help="comma-separated set names, or 'all' (default)")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated, from {', '.join(WAYS)}")
    parser.add_argument("--sentences", type=int, default=0, help="use only the first N sentences per set")
    parser.add_argument("--tuning", action="store_true", help="the tuning sentences, not the measuring ones")
    parser.add_argument("--no-silence", action="store_true", help="skip the non-speech clips")
    parser.add_argument("--cache", type=Path, help="keep the generated clips in this folder")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(list(argv))
    ways = [w for w in args.ways.split(",") if w]
    sentences = TUNING if args.tuning else MEASURING
    sentences = sentences[: args.sentences] if args.sentences else sentences
    data_dir = settings.data_dir()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="speech-sets-"))
    sets = SpeechSets(cache, sentences)
    names = sets.names() if args.sets == "all" else [s.strip() for s in args.sets.split(",")]
    piper: Path | None = None
    if any(name.startswith("piper") for name in names):
        try:  # the voice ships in the models extra; without it the Piper sets are left out, said so
            piper = catalog.ensure_model(catalog.find_model("piper-joe-medium", data_dir), data_dir)
        except ModelError as error:
            print(f"  (Piper sets left out: {error})")
            names = [name for name in names if not name.startswith("piper")]
    comparison = Comparison(args.model, data_dir, args.threads)
    print(f"Speech accuracy: {args.model}, {'tuning' if args.tuning else 'measuring'} sentences "
          f"({len(sentences)} per set), word error rate (lower is better); raw = plain faster-whisper "
          "defaults on the same loaded model")
    results: dict[str, Tally] = {}
    for name in names:
        started = time.perf_counter()
        results[name] = comparison.run(sets.build(name, piper), ways)
        logger.info("set %s in %.1f s", name, time.perf_counter() - started)
    print_table(results, ways)
    for name, tally in results.items():
        for way in ways:
            errors, reference, text = tally.worst.get(way, (0, "", ""))
            if errors >= 3:
                print(f"  worst {way} in {name}: {errors} errors, {text!r} for {reference!r}")
    if not args.no_silence:
        from assistant.bench.speech_noise import MEASURING_SEED, TUNING_SEED

        heard, count = non_speech(comparison, cache, ways, TUNING_SEED if args.tuning else MEASURING_SEED)
        for way in ways:
            tried = count if way == "raw" else 2 * count
            print(f"  non-speech clips with text, {way:12}: {len(heard[way])} of {tried}"
                  + (f" ({'; '.join(heard[way])})" if heard[way] else ""))
    return 0
