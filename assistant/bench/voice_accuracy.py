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


@dataclass(frozen=True)
class Heard:
    """One way's transcript of one clip, and whether any of it was a random draw."""

    text: str
    sampled: bool  # the temperature fallback sampled a segment (the beam search failed its checks)


@dataclass
class Tally:
    """Word errors over a set, per way of transcribing.

    A sampled decode is a random draw from CTranslate2's one generator per worker thread, which every
    earlier decode in the process has advanced: the three ways of one clip get three different draws (and
    the library's own result on such a clip changes with what ran before it). So errors are also counted
    over the clips no way sampled, where a difference is a difference in decoding.
    """

    errors: dict[str, int] = field(default_factory=dict)
    written_errors: dict[str, int] = field(default_factory=dict)
    steady_errors: dict[str, int] = field(default_factory=dict)  # on clips no way sampled
    sampled: dict[str, int] = field(default_factory=dict)  # clips this way sampled
    words: int = 0
    written_words: int = 0
    steady_words: int = 0
    sampled_clips: int = 0  # clips any way sampled
    seconds: dict[str, float] = field(default_factory=dict)
    worst: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # way -> (errors, reference, text)

    def add(self, reference: str, heard: dict[str, Heard], seconds: dict[str, float]) -> None:
        """One clip, heard every way."""
        words = len(speech_score.words(reference))
        self.words += words
        self.written_words += len(speech_score.written_words(reference))
        steady = not any(h.sampled for h in heard.values())
        self.steady_words += words if steady else 0
        self.sampled_clips += 0 if steady else 1
        for way, result in heard.items():
            errors = speech_score.word_errors(reference, result.text)
            self.errors[way] = self.errors.get(way, 0) + errors
            written = speech_score.written_errors(reference, result.text)
            self.written_errors[way] = self.written_errors.get(way, 0) + written
            self.steady_errors[way] = self.steady_errors.get(way, 0) + (errors if steady else 0)
            self.sampled[way] = self.sampled.get(way, 0) + int(result.sampled)
            self.seconds[way] = self.seconds.get(way, 0.0) + seconds[way]
            if errors > self.worst.get(way, (0, "", ""))[0]:
                self.worst[way] = (errors, reference, result.text)

    def rate(self, way: str) -> float:
        return self.errors.get(way, 0) / max(1, self.words)

    def written_rate(self, way: str) -> float:
        return self.written_errors.get(way, 0) / max(1, self.written_words)

    def steady_rate(self, way: str) -> float:
        return self.steady_errors.get(way, 0) / max(1, self.steady_words)

    def verdict(self, ways: Sequence[str]) -> str:
        """'yes' when every app way makes at most raw's errors; 'draws' when it does so on the clips no
        way sampled and loses only on sampled ones; 'NO' when it loses where nothing was drawn."""
        app = [w for w in ways if w != "raw"]
        if "raw" not in ways or all(self.errors.get(w, 0) <= self.errors.get("raw", 0) for w in app):
            return "yes"
        if all(self.steady_errors.get(w, 0) <= self.steady_errors.get("raw", 0) for w in app):
            return "draws"
        return "NO"


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

    def raw(self, sample: Sample) -> Heard:
        """faster-whisper with its defaults, decoding the file itself (it has no conversation)."""
        segments = list(self.speech.library_model.transcribe(str(sample.path))[0])
        return Heard(" ".join(s.text.strip() for s in segments), any(s.temperature for s in segments))

    def file(self, sample: Sample) -> Heard:
        """A recording attached to a question (`assistant transcribe` when the sample has no chat)."""
        sampled_before = self.speech.sampled_segments
        self.events.clear()
        options = dataclasses.replace(self.file_options(), context=conversation_terms(sample.chat))
        request = TranscribeRequest(self.model_name, str(self.data_dir), audio_path=str(sample.path),
                                    options=options, threads=self.threads)
        self.host.transcribe(request)
        text = " ".join(e.segment.text.strip() for e in self.events if isinstance(e, Transcript))
        return Heard(text, self.speech.sampled_segments > sampled_before)

    def push_to_talk(self, sample: Sample) -> Heard:
        """The clip held in the window: live passes as `LiveTranscriber` asks for them, then the final one.

        Only a final pass's text is sent, so only a final pass's sampling counts (live passes show text).
        """
        audio = read_wav(sample.path)
        live, language, context = LiveTranscriber(), None, conversation_terms(sample.chat)
        sampled = False  # by the latest final pass, whose text is the one sent unless another follows
        for start in range(0, audio.size, CHUNK):
            live.add_audio(audio[start : start + CHUNK])
            request = live.next_request()
            if request is not None:
                segments, found, drawn = self._pass(request, None if request.final else language, context)
                sampled = drawn if request.final else sampled
                language = language or found
                live.accept(segments)
        tail = live.final_request()
        if tail is None:
            return Heard(live.finish([]), sampled)
        segments, _found, sampled = self._pass(tail, None, context)  # detects, as the window
        return Heard(live.finish(segments), sampled)

    def _pass(
        self, wanted: PassRequest, language: str | None, context: tuple[str, ...]
    ) -> tuple[list[Segment], str | None, bool]:
        """One pass's segments, the language a final pass found surely enough to keep, and whether any of
        its segments was sampled."""
        self.events.clear()
        sampled_before = self.speech.sampled_segments
        options = pass_options(language, context=context, final=wanted.final)
        request = TranscribeRequest(self.model_name, str(self.data_dir), audio=wanted.audio,
                                    options=options, threads=self.threads)
        self.host.transcribe(request)
        started = [e for e in self.events if isinstance(e, TranscriptionStarted)]
        sure = bool(started) and started[0].language_probability >= KEEP_LANGUAGE_FROM
        found = started[0].language if wanted.final and sure else None  # kept for live passes, as the window
        segments = [e.segment for e in self.events if isinstance(e, Transcript)]
        return segments, found, self.speech.sampled_segments > sampled_before

    def run(self, samples: Sequence[Sample], ways: Sequence[str]) -> Tally:
        tally = Tally()
        for sample in samples:
            heard: dict[str, Heard] = {}
            seconds: dict[str, float] = {}
            for way in ways:
                started = time.perf_counter()
                heard[way] = getattr(self, way.replace("-", "_"))(sample)
                seconds[way] = time.perf_counter() - started
                logger.info("%s %s: %r%s", way, sample.name, heard[way].text,
                            " (sampled)" if heard[way].sampled else "")
            tally.add(sample.reference, heard, seconds)
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
                text = getattr(comparison, way.replace("-", "_"))(Sample(path.stem, path, "", chat)).text
                if text.strip():
                    heard[way].append(f"{name}{' (chat)' if chat else ''}: {text.strip()!r}")
    return heard, len(clips)


def print_table(results: dict[str, Tally], ways: Sequence[str]) -> None:
    """Per set: word error rates, the clips each way sampled, and whether the app did as well as raw."""
    sampled_head = "/".join(w[0] for w in ways)
    print(f"  {'set':25} {'words':>5}  " + "  ".join(f"{way:>12}" for way in ways)
          + f"   sampled ({sampled_head})   app <= raw")
    for name, tally in results.items():
        rates = "  ".join(f"{100 * tally.rate(way):11.1f}%" for way in ways)
        sampled = "/".join(str(tally.sampled.get(w, 0)) for w in ways)
        print(f"  {name:25} {tally.words:5d}  {rates}   {sampled:>{11 + len(sampled_head)}}   "
              f"{tally.verdict(ways)}")
        if name == "numbers":
            written = "  ".join(f"{100 * tally.written_rate(way):11.1f}%" for way in ways)
            print(f"  {'numbers, as written':25} {tally.written_words:5d}  {written}")
    totals = {way: sum(t.errors.get(way, 0) for t in results.values()) for way in ways}
    words = sum(t.words for t in results.values())
    overall = "  ".join(f"{100 * totals[w] / max(1, words):11.1f}%" for w in ways)
    print(f"  {'all sets':25} {words:5d}  {overall}")
    steady_words = sum(t.steady_words for t in results.values())
    steady = "  ".join(
        f"{100 * sum(t.steady_errors.get(w, 0) for t in results.values()) / max(1, steady_words):11.1f}%"
        for w in ways)
    sampled_clips = sum(t.sampled_clips for t in results.values())
    print(f"  {'clips no way sampled':25} {steady_words:5d}  {steady}   ({sampled_clips} clips left out)")
    seconds = {way: sum(t.seconds.get(way, 0.0) for t in results.values()) for way in ways}
    print(f"  decode time (s, {len(results)} sets)       " + "  ".join(f"{seconds[w]:12.1f}" for w in ways))
    if any(t.verdict(ways) == "draws" for t in results.values()):
        print("  draws: the app loses only on clips some way decoded by sampling (Whisper's temperature "
              "fallback), each way a different random draw; on the clips no way sampled it is <= raw")


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
