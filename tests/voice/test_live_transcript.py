"""Live transcription while push-to-talk is held, with the real Whisper tiny.en model in-process.

The clip is espeak-ng speech fed in 100 ms chunks, as the recorder delivers it; each live pass is
decoded at once (a fast engine), so the test checks the commit logic, not the timing.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from speech_metrics import word_error_rate

from assistant.audio.resample import resample
from assistant.protocols import Segment, TranscriptionInfo, TranscriptionOptions
from assistant.voice.live_transcript import RATE, WHOLE_CLIP_S, LiveTranscriber, pass_options

SPOKEN = (
    "The weather is nice today, so we will walk to the park after lunch. "
    "Please send me the report by Friday morning so I can read it before the meeting. "
    "Children like to play games in the garden when the sun is shining."
)




def spoken_clip(text: str, folder: Path) -> np.ndarray:
    """espeak-ng speech as a 16 kHz mono float32 clip."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng makes the speech fixture (apt-get install espeak-ng)")
    path = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    with wave.open(str(path), "rb") as handle:
        rate = handle.getframerate()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    return resample(pcm.astype(np.float32) / 32768.0, rate)


def segments_of(model, audio: np.ndarray, options: TranscriptionOptions) -> list[Segment]:
    return list(model.transcribe(audio, options, TranscriptionInfo()))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("faster_whisper")
    from assistant.engines.whisper import WhisperSpeech

    return WhisperSpeech.open("whisper-tiny.en", tmp_path_factory.mktemp("data"), threads=2)


@pytest.mark.timeout(300)
def test_live_passes_show_text_and_the_final_pass_decodes_the_whole_clip(tiny, tmp_path: Path) -> None:
    clip = np.concatenate([spoken_clip(SPOKEN, tmp_path), quiet(0.6)])  # released a moment after speaking
    live = LiveTranscriber()
    shown: list[str] = []
    kinds: list[bool] = []
    chunk = RATE // 10
    for start in range(0, clip.size, chunk):
        live.add_audio(clip[start : start + chunk])
        request = live.next_request()
        if request is not None:
            kinds.append(request.final)
            live.accept(segments_of(tiny, request.audio, pass_options("en", final=request.final)))
            shown.append(live.text)
    assert kinds.count(False) >= 5
    assert any(shown[:-1]), "text appeared while the user was still talking"
    assert live.committed_seconds > 0, "settled text was committed"
    # The speaker's last pause had the whole clip decoded for the final text, key still held.
    assert kinds[-1] is True
    assert live.final_request() is None, "the pass at the speaker's pause is reused at release"
    text = live.finish([])
    assert text == " ".join(s.text for s in segments_of(tiny, clip, pass_options("en", final=True)))
    assert word_error_rate(SPOKEN, text) <= 0.15, text


def test_no_request_while_one_is_in_flight_or_before_a_second_of_new_audio() -> None:
    live = LiveTranscriber()
    live.add_audio(tone(0.5))
    assert live.next_request() is None
    live.add_audio(tone(0.5))
    first = live.next_request()
    assert first is not None and first.audio.size == RATE and not first.final
    live.add_audio(tone(2.0))
    assert live.next_request() is None  # one pass at a time
    with pytest.raises(RuntimeError):
        live.final_request()
    live.accept([Segment(0.0, 0.4, "hello")])  # too close to the end of 1 s: provisional
    assert live.text == "hello" and live.committed_seconds == 0
    second = live.next_request()
    assert second is not None and second.audio.size == 3 * RATE and not second.final
    live.accept([Segment(0.0, 0.5, "hello"), Segment(2.8, 3.0, "world")])
    assert live.text == "hello world"
    assert 0.5 <= live.committed_seconds <= 1.0  # cut in the pause after "hello"
    # At release the final pass decodes the whole clip, not only the tail the live passes left.
    final = live.final_request()
    assert final is not None and final.final and final.audio.size == 3 * RATE
    assert live.finish([Segment(0.0, 3.0, "Hello, world.")]) == "Hello, world."


def test_quiet_audio_gets_no_pass_and_a_silent_tail_is_committed() -> None:
    live = LiveTranscriber()
    live.add_audio(quiet(4.0))
    assert live.next_request() is None  # nothing loud: nothing to show, nothing to decode
    assert live.final_request() is None and live.finish([]) == ""
    noisy = LiveTranscriber()
    noisy.add_audio(tone(4.0))  # loud, but the decode hears no words in it
    assert noisy.next_request() is not None
    noisy.accept([])
    assert noisy.text == "" and noisy.committed_seconds == pytest.approx(2.5)
    fresh = LiveTranscriber()
    fresh.add_audio(tone(0.1))
    assert fresh.final_request() is None  # too short to hold a word
    assert fresh.finish([]) == ""


def tone(seconds: float) -> np.ndarray:
    """A loud 440 Hz tone: stands in for speech in the loudness checks."""
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.full(round(seconds * RATE), 1e-4, np.float32)  # a quiet room, not digital zero


def test_a_pause_after_speech_starts_the_final_pass_before_the_step() -> None:
    live = LiveTranscriber()
    live.add_audio(tone(0.5))
    assert live.next_request() is None  # still talking, less than a step of audio
    live.add_audio(quiet(0.2))
    assert live.next_request() is None  # too short a pause
    live.add_audio(quiet(0.15))
    request = live.next_request()
    assert request is not None and request.final and request.audio.size == round(0.85 * RATE)


def test_release_after_a_pause_reuses_the_final_pass() -> None:
    live = LiveTranscriber()
    live.add_audio(tone(1.0))
    live.add_audio(quiet(0.4))
    request = live.next_request()
    assert request is not None and request.final
    live.accept([Segment(0.0, 1.0, "hello there")])
    assert live.text == "hello there"
    live.add_audio(quiet(1.5))  # the user stopped talking, then released the key
    assert live.next_request() is None  # nothing new to show
    assert live.final_request() is None
    assert live.finish([]) == "hello there"


def test_speech_after_the_final_pass_has_the_whole_clip_decoded_again_at_release() -> None:
    live = LiveTranscriber()
    live.add_audio(tone(1.0))
    live.add_audio(quiet(0.4))
    assert live.next_request() is not None
    live.accept([Segment(0.0, 1.0, "hello")])
    live.add_audio(tone(0.5))  # more words after the pass
    final = live.final_request()
    assert final is not None and final.final and final.audio.size == round(1.9 * RATE)
    assert live.finish([Segment(0.0, 1.9, "hello world")]) == "hello world"


def test_a_live_pass_never_stands_for_the_final_text() -> None:
    live = LiveTranscriber()
    live.add_audio(tone(1.0))
    request = live.next_request()
    assert request is not None and not request.final
    live.accept([Segment(0.0, 1.0, "hello there")])
    live.add_audio(quiet(0.1))
    assert live.text_if_released() is None  # a live pass's text is only shown
    final = live.final_request()
    assert final is not None and final.final and final.audio.size == round(1.1 * RATE)


def test_the_text_if_released_now_is_known_only_when_nothing_followed_the_final_pass() -> None:
    live = LiveTranscriber()
    assert live.text_if_released() is None  # no pass yet
    live.add_audio(tone(1.0))
    live.add_audio(quiet(0.4))
    assert live.next_request() is not None
    assert live.text_if_released() is None  # a pass in flight: its text is not known yet
    live.accept([Segment(0.0, 1.0, "hello there")])
    assert live.text_if_released() == "hello there"  # releasing now would reuse this pass
    live.add_audio(tone(0.3))
    assert live.text_if_released() is None  # more words: the final text will differ


def test_a_segment_is_committed_only_when_two_passes_agree_on_its_words() -> None:
    # JFK's clip cut at 8.5 s: one pass ran ahead of the speech and said a phrase twice. Its segment
    # ended early enough to settle, but the pass before heard other words there: nothing is committed.
    live = LiveTranscriber()
    live.add_audio(tone(4.0))
    assert live.next_request() is not None
    live.accept([Segment(0.0, 1.5, "ask not what your country"), Segment(1.6, 4.0, "can do")])
    assert live.committed_seconds == 0  # a first pass has nothing to agree with
    live.add_audio(tone(1.0))
    assert live.next_request() is not None
    live.accept([Segment(0.0, 1.5, "ask not what your country, ask not what your country"),
                 Segment(1.6, 5.0, "can do for you")])
    assert live.committed_seconds == 0  # the words differ from the pass before
    live.add_audio(tone(1.0))
    assert live.next_request() is not None
    live.accept([Segment(0.0, 1.5, "Ask not what your country, ask not what your country!"),
                 Segment(1.6, 6.0, "can do for you, ask")])
    assert live.committed_seconds == pytest.approx(1.55)  # agreed (case and punctuation aside): settled
    assert live.text == "Ask not what your country, ask not what your country! can do for you, ask"


def committed_after_agreement(last_words: str) -> LiveTranscriber:
    """Two passes agree on a first segment ending in `last_words`: it is committed, the cut after it."""
    live = LiveTranscriber()
    live.add_audio(tone(5.0))
    for _ in range(2):
        assert live.next_request() is not None
        first = Segment(0.0, 2.0, f"ask not what your country can do {last_words}")
        live.accept([first, Segment(2.5, 5.0, "ask")])
        live.add_audio(tone(1.0))
    assert live.committed_seconds == pytest.approx(2.25)  # in the pause between the two segments
    return live


def test_words_repeated_across_a_cut_are_dropped() -> None:
    # The committed segment ended early: the pass over the tail hears its last words again.
    live = committed_after_agreement("for you.")
    assert live.next_request() is not None
    live.accept([Segment(0.0, 3.0, "for you, ask what you can do")])
    assert live.text == "ask not what your country can do for you. ask what you can do"


def test_one_repeated_word_across_a_cut_is_kept() -> None:
    live = committed_after_agreement("for you.")  # "...for you. You should..." is really said
    assert live.next_request() is not None
    live.accept([Segment(0.0, 2.0, "You should ask.")])
    assert live.text == "ask not what your country can do for you. You should ask."


def test_a_long_clip_s_final_pass_decodes_the_tail_after_the_committed_text() -> None:
    live = committed_after_agreement("for you.")
    live.add_audio(tone(WHOLE_CLIP_S))  # now longer than one Whisper window
    final = live.final_request()
    assert final is not None and final.final
    assert final.audio.size == live.samples - round(live.committed_seconds * RATE)
    assert live.finish([Segment(0.0, 4.0, "for you, ask what you can do for your country.")]) == (
        "ask not what your country can do for you. ask what you can do for your country."
    )


def test_no_live_pass_starts_while_the_speaker_may_be_stopping() -> None:
    """The engine decodes one pass at a time: a live pass begun as the words end would delay the final one."""
    live = LiveTranscriber()
    live.add_audio(tone(1.0))
    live.add_audio(quiet(0.15))
    assert live.next_request() is None  # a step of audio with speech, but it ends quiet
    live.add_audio(quiet(0.15))
    request = live.next_request()
    assert request is not None and request.final  # the pause: the final pass, with the engine free
    live.accept([Segment(0.0, 1.0, "hello")])
    live.add_audio(quiet(0.5))
    live.add_audio(tone(0.6))  # talking again: live passes resume
    request = live.next_request()
    assert request is not None and not request.final
