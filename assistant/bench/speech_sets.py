"""The speech measuring sets: spoken sentences with their text, made here, kept apart from tuning.

Two pools of sentences. TUNING sentences are the ones the decoding choices were tried on (short-context
padding, beam, VAD, prompts); MEASURING sentences were written once, before any tuning, and are only ever
used to report numbers (`assistant bench voice --accuracy`, the README). Babble noise is made from a
third pool, so no measured sentence is also heard as noise.

Sets (each a list of `Sample(name, path, reference)`, files written once into a cache folder):
- espeak-ng voices (en-us, en-gb, en-gb-scotland, en-us+m3, en-us+f2) and speeds (120/175/220 wpm);
- the Piper voice `en_US-joe-medium` at three speeds (length_scale 0.8/1.0/1.3);
- the en-us clips with white, pink or babble noise at 20, 10 and 5 dB SNR;
- real recorded speech: JFK's 11 s "ask not" clip (tests/data/speech/jfk.wav, sha256 checked);
- numbers: sentences with amounts, times and percentages, their reference written as a user types them;
- names: sentences with names and terms that the chat before them already wrote (the context).
"""

from __future__ import annotations

import hashlib
import subprocess
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.bench import speech_noise
from assistant.resources_path import app_root

RATE = speech_noise.RATE

TUNING = (
    "What is the capital of France?",
    "Please tell me the name of the capital city of France, in one short sentence.",
    "The weather is nice today, so we will walk to the park after lunch.",
    "Please send me the report by Friday morning so I can read it before the meeting.",
    "Children like to play games in the garden when the sun is shining.",
    "We need to buy bread, eggs, cheese and apples from the shop.",
    "What is the capital of France, and which river flows through it?",
    "How do I reverse a list in Python?",
    "Remind me to call my sister when I get home.",
    "Which planet is the largest in our solar system?",
)

# Written before any measurement; never used to choose a setting. No numbers and no words spelt
# differently in British and American English, so a transcript is judged on hearing, not on style.
MEASURING = (
    "Can you explain why the sky looks blue during the day?",
    "The dog next door barked all night, so nobody on our street slept well.",
    "How long should I boil an egg if I want the yolk to stay soft?",
    "The library closes early on Sundays, but the reading room stays open until evening.",
    "Translate this paragraph into German and keep the tone friendly.",
    "Which vegetables grow best in a small garden with little sunlight?",
    "She parked the blue car behind the old bakery near the station.",
    "What are the main differences between a virus and a bacterium?",
    "Please list the main points of the attached document in short bullets.",
    "The concert was cancelled because the singer had lost her voice.",
    "Is it safe to leave a laptop charging overnight?",
    "Our train was late, so we missed the opening speech at the conference.",
)

BABBLE = (
    "I think we should take the bus instead of walking in this rain.",
    "Have you seen the new exhibition at the museum downtown?",
    "The kitchen needs cleaning before our guests arrive tonight.",
    "He told me the shop had run out of fresh coffee beans.",
)

# (spoken, as a user would type it): Whisper writes most numbers as digits already; these check the rest.
NUMBERS = (
    ("Set a timer for twenty five minutes.", "Set a timer for 25 minutes."),
    ("The price went up by fifteen percent last year.", "The price went up by 15% last year."),
    ("Wake me up at seven thirty tomorrow morning.", "Wake me up at 7:30 tomorrow morning."),
    ("It costs twelve dollars and fifty cents.", "It costs $12.50."),
    ("My flight leaves at six forty five in the evening.", "My flight leaves at 6:45 in the evening."),
    ("Turn the heating up to twenty one degrees.", "Turn the heating up to 21 degrees."),
    ("The ticket costs forty euros.", "The ticket costs €40."),
    ("Call me back in about ten minutes.", "Call me back in about 10 minutes."),
    ("The meeting starts at nine fifteen.", "The meeting starts at 9:15."),
    ("Only thirty percent of the tickets are left.", "Only 30% of the tickets are left."),
)

# Names and terms the speech model rarely hears, said after a chat that already wrote them: measures
# the conversation given as context (hotwords) against the plain library, which has none.
NAMES_CHAT = (
    "Tomorrow I meet Siobhan, Dr. Okafor and Nguyen in Reykjavik.",
    "We will eat at Nobu after the Kubernetes workshop; bring the PyTorch notes and the Grafana dashboards.",
)
NAMES = (
    "Ask Siobhan whether she can join us at Nobu on Friday.",
    "Dr. Okafor will present the Kubernetes results after lunch.",
    "Send the PyTorch notes to Nguyen before the workshop.",
    "Book a room in Reykjavik for Siobhan and Okafor.",
    "Is the Kubernetes cluster ready for the demo at Nobu?",
    "Remind Nguyen to bring the Grafana dashboards.",
)

JFK_SHA256 = "59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e"
JFK_TEXT = ("And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.")
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-us+m3", "en-us+f2")
ESPEAK_SPEEDS = (120, 175, 220)
PIPER_SCALES = (0.8, 1.0, 1.3)
NOISES = ("white", "pink", "babble")
SNRS = (20, 10, 5)


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    reference: str
    chat: tuple[str, ...] = ()  # what the conversation said before this was spoken


class SpeechSets:
    """Builds the sets' files under `folder` (once each: a later call finds them there)."""

    def __init__(self, folder: Path, sentences: Sequence[str] = MEASURING) -> None:
        self.folder = folder
        self.sentences = tuple(sentences)
        folder.mkdir(parents=True, exist_ok=True)

    def names(self) -> list[str]:
        names = [f"espeak {voice} 175" for voice in ESPEAK_VOICES]
        names += [f"espeak en-us {speed}" for speed in ESPEAK_SPEEDS if speed != 175]
        names += [f"piper joe x{scale}" for scale in PIPER_SCALES]
        names += [f"{noise} {snr} dB" for noise in NOISES for snr in SNRS]
        return [*names, "jfk (real)", "numbers", "names (chat as context)"]

    def build(self, name: str, piper_model: Path | None = None) -> list[Sample]:
        """One set by name (see `names()`)."""
        words = name.split()
        if words[0] == "espeak":
            return [self._espeak(i, text, words[1], int(words[2])) for i, text in enumerate(self.sentences)]
        if words[0] == "piper":
            if piper_model is None:
                raise ValueError("the Piper sets need the voice's model file")
            scale = float(words[2][1:])
            return [self._piper(i, text, piper_model, scale) for i, text in enumerate(self.sentences)]
        if words[0] in NOISES:
            return self._noisy(words[0], int(words[1]))
        if name == "jfk (real)":
            return [Sample("jfk", jfk_wav(), JFK_TEXT)]
        if name == "numbers":
            return [Sample(f"numbers-{i}", self._speak(f"numbers-{i}", spoken, "en-us", 160), typed)
                    for i, (spoken, typed) in enumerate(NUMBERS)]
        if name == "names (chat as context)":
            return [Sample(f"names-{i}", self._speak(f"names-{i}", text, "en-us", 160), text, NAMES_CHAT)
                    for i, text in enumerate(NAMES)]
        raise ValueError(f"no speech set named {name!r}; sets: {', '.join(self.names())}")

    def _espeak(self, index: int, text: str, voice: str, speed: int) -> Sample:
        name = f"espeak-{voice.replace('+', '-')}-{speed}-{index}"
        return Sample(name, self._speak(name, text, voice, speed), text)

    def _speak(self, name: str, text: str, voice: str, speed: int) -> Path:
        path = self.folder / f"{name}.wav"
        if not path.exists():
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True,
                           capture_output=True)
        return path

    def _piper(self, index: int, text: str, model: Path, scale: float) -> Sample:
        path = self.folder / f"piper-joe-{scale}-{index}.wav"
        if not path.exists():
            from assistant.engines import piper_tts  # onnxruntime: only when a Piper set is built

            speaker = piper_tts.load(model, threads=2, length_scale=scale)
            pcm = np.concatenate(list(speaker.synthesize(text)))
            write_wav(path, pcm.astype(np.float32) / 32768.0, speaker.sample_rate)
        return Sample(path.stem, path, text)

    def _noisy(self, kind: str, snr: int) -> list[Sample]:
        clean = self.build("espeak en-us 175")
        rng = np.random.default_rng(1000 + snr + 100 * NOISES.index(kind))
        voices = ("en-gb", "en-us+f2", "en-us+m3", "en-gb-scotland")
        talkers = [read_wav(self._speak(f"babble-{i}", text, voice, 165))
                   for i, (text, voice) in enumerate(zip(BABBLE, voices, strict=True))]
        make: dict[str, Callable[[int], np.ndarray]] = {
            "white": lambda n: speech_noise.white(n, rng),
            "pink": lambda n: speech_noise.pink(n, rng),
            "babble": lambda n: speech_noise.babble(talkers, n, rng),
        }
        samples = []
        for sample in clean:
            path = self.folder / f"{sample.name}-{kind}-{snr}dB.wav"
            if not path.exists():
                speech = read_wav(sample.path)
                write_wav(path, speech_noise.mix_at_snr(speech, make[kind](speech.size), snr), RATE)
            samples.append(Sample(path.stem, path, sample.reference))
        return samples


def jfk_wav() -> Path:
    """The real recording (public domain), vendored with the tests; refused if its bytes changed."""
    path = app_root() / "tests" / "data" / "speech" / "jfk.wav"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the real-speech set needs a source checkout")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != JFK_SHA256:
        raise ValueError(f"{path} has sha256 {digest}, not the published {JFK_SHA256}")
    return path


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit PCM WAV as 16 kHz mono float32 (espeak-ng writes 22,050 Hz)."""
    from assistant.audio.resample import resample

    with wave.open(str(path), "rb") as handle:
        rate, channels = handle.getframerate(), handle.getnchannels()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    mono = pcm.reshape(-1, channels).mean(axis=1)
    return mono if rate == RATE else resample(mono, rate)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
