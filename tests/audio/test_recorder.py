"""Push-to-talk recorder: real speech through a fake device that uses sounddevice's callback path."""

from __future__ import annotations

import logging
import pickle
import shutil
import subprocess
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fake_audio_device import FakeSoundDevice, PortAudioError, device

from assistant.audio.recorder import (
    BUSY,
    NO_INPUT,
    NO_LIBRARY,
    NO_MICROPHONE,
    SILENCE,
    UNPLUGGED,
    MicrophoneError,
    Recorder,
    load_sounddevice,
)
from assistant.audio.resample import StreamingResampler, resample, to_mono

SPEED = 8.0  # the fake feeds audio this many times faster than real time


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768
        return data.reshape(-1, wav.getnchannels()), wav.getframerate()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[np.ndarray, int]]:
    """espeak-ng speech (22.05 kHz), sox-converted to 48 kHz stereo and, as the reference, to 16 kHz."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed for the speech fixture")
    folder = tmp_path_factory.mktemp("speech")
    source = folder / "speech.wav"
    text = "Turn on the kitchen lights and tell me tomorrow's weather."
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(source), text], check=True)
    subprocess.run(["sox", str(source), "-r", "48000", "-c", "2", str(folder / "s48.wav")], check=True)
    subprocess.run(["sox", str(source), "-r", "16000", str(folder / "s16.wav")], check=True)
    return {name: read_wav(folder / f"{name}.wav") for name in ("speech", "s48", "s16")}


def noise(seconds: float, rate: int = 48_000, level: float = 1e-3) -> np.ndarray:
    return np.random.default_rng(1).normal(0, level, (round(seconds * rate), 2)).astype(np.float32)


# -- resampling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100, 48_000, 96_000])
def test_sine_keeps_its_frequency_and_length(rate: int) -> None:
    x = np.sin(2 * np.pi * 1000 * np.arange(rate) / rate).astype(np.float32)
    y = resample(x, rate)
    assert y.dtype == np.float32 and y.size == 16_000
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert np.fft.rfftfreq(y.size, 1 / 16_000)[np.argmax(spectrum)] == pytest.approx(1000, abs=2)
    # Delay-compensated: sample n is the input at time n / 16 kHz.
    expected = np.sin(2 * np.pi * 1000 * np.arange(y.size) / 16_000)
    assert np.max(np.abs(y - expected)[500:-500]) < 1e-4


def test_tone_above_the_new_nyquist_is_suppressed() -> None:
    x = np.sin(2 * np.pi * 10_000 * np.arange(96_000) / 48_000).astype(np.float32)
    y = resample(x, 48_000)[500:-500]
    attenuation_db = 20 * np.log10(max(np.sqrt(np.mean(y**2)), 1e-9) / np.sqrt(np.mean(x**2)))  # 0: all gone
    assert attenuation_db < -60


@pytest.mark.parametrize("rate", [22_050, 44_100, 48_000])
def test_streaming_in_uneven_blocks_equals_one_shot(rate: int) -> None:
    x = np.random.default_rng(2).normal(0, 0.1, rate).astype(np.float32)
    resampler, parts, position = StreamingResampler(rate), [], 0
    for size in np.random.default_rng(3).integers(1, 1500, 200):
        parts.append(resampler.process(x[position : position + size]))
        position += size
    parts += [resampler.process(x[position:]), resampler.flush()]
    np.testing.assert_array_equal(np.concatenate(parts), resample(x, rate))


def test_channels_are_averaged() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, -0.5]], dtype=np.float32)
    np.testing.assert_array_equal(to_mono(stereo), [0.5, 0.0])


# -- recording --------------------------------------------------------------------------------------


@pytest.mark.parametrize("refuse_mono", [False, True], ids=["mono-stream", "stereo-stream-mixed"])
def test_speech_is_recorded_as_16k_mono(speech: dict[str, tuple[np.ndarray, int]], refuse_mono: bool) -> None:
    s48 = speech["s48"][0] * np.array([1.0, 0.5], np.float32)  # channels differ: averaging matters
    reference = speech["s16"][0][:, 0]
    levels: list[float] = []
    chunks: list[np.ndarray] = []
    fake = FakeSoundDevice(s48, channels=2, speed=SPEED, tail="none", refuse_mono=refuse_mono)
    recorder = Recorder(fake, on_level=levels.append, on_chunk=chunks.append)
    assert recorder.availability() == (True, "")
    recorder.start()
    assert fake.streams[0].samplerate == 48_000
    assert fake.streams[0].channels == (2 if refuse_mono else 1)
    fake.streams[0].exhausted.wait(10)
    assert recorder.health() is None
    recording = recorder.stop()

    audio = recording.audio
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - s48.shape[0] / 3) <= 1
    assert recording.seconds == pytest.approx(speech["speech"][0].shape[0] / 22_050, abs=1e-3)
    assert not recording.too_short and recording.warning is None and not recording.reached_limit
    length = min(audio.size, reference.size)
    assert np.corrcoef(audio[:length], reference[:length])[0, 1] > 0.9
    # on_chunk saw the clip live, in pieces, and the pieces are exactly the clip.
    assert len(chunks) > 3
    np.testing.assert_array_equal(np.concatenate(chunks), audio)
    assert all(0.0 <= level <= 1.0 for level in levels) and max(levels) > 0.5


def test_quiet_room_gives_low_levels() -> None:
    levels: list[float] = []
    fake = FakeSoundDevice(noise(0.8), speed=SPEED, tail="none")
    recorder = Recorder(fake, on_level=levels.append)
    recorder.start()
    fake.streams[0].exhausted.wait(5)
    recording = recorder.stop()
    assert levels and all(0.0 <= level < 0.2 for level in levels)
    assert recording.warning is None


def test_stop_closes_the_stream_at_once() -> None:
    fake = FakeSoundDevice(noise(10), speed=1.0)
    recorder = Recorder(fake)
    recorder.start()
    stream = fake.streams[0]
    wait_until(lambda: stream.callbacks >= 30)  # 0.3 s of audio has arrived, in real time
    recording = recorder.stop()
    # Closed before stop() returned (like Pa_StopStream, the fake's stop joins its callback thread), so
    # no callback can come after it: the count read now is final.
    assert stream.stopped and stream.closed and not recorder.is_recording
    delivered = stream.callbacks * fake.block_seconds
    # What was recorded is what arrived before the call: every block but, at most, one that was being
    # delivered while stop() shut the door.
    assert delivered - fake.block_seconds - 0.002 <= recording.seconds <= delivered + 0.002


def test_short_clip_is_marked_too_short() -> None:
    fake = FakeSoundDevice(noise(0.1), speed=SPEED, tail="none")
    recorder = Recorder(fake, min_seconds=0.3)
    recorder.start()
    fake.streams[0].exhausted.wait(5)
    recording = recorder.stop()
    assert recording.too_short and recording.seconds == pytest.approx(0.1, abs=0.002)


def test_recording_stops_accepting_audio_at_the_limit() -> None:
    fake = FakeSoundDevice(noise(3), speed=SPEED * 2)
    recorder = Recorder(fake, max_seconds=0.5)
    assert recorder.remaining_seconds() == 0.5
    recorder.start()
    wait_until(lambda: recorder.reached_limit)
    assert recorder.remaining_seconds() == 0.0
    recording = recorder.stop()
    assert recording.reached_limit and recording.seconds == pytest.approx(0.5, abs=1e-6)


# -- faults -----------------------------------------------------------------------------------------


def test_all_zero_input_warns_about_privacy_or_mute() -> None:
    fake = FakeSoundDevice(np.zeros((72_000, 2), np.float32), speed=SPEED, tail="zeros")
    recorder = Recorder(fake)
    recorder.start()
    fake.streams[0].exhausted.wait(5)
    wait_until(lambda: recorder.health() == SILENCE)
    assert recorder.stop().warning == SILENCE


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_unplugged_microphone_is_reported_and_the_audio_kept() -> None:
    clock = ManualClock()
    fake = FakeSoundDevice(noise(0.4), speed=SPEED, tail="none")
    recorder = Recorder(fake, clock=clock)
    recorder.start()
    fake.streams[0].exhausted.wait(5)
    assert recorder.health() is None
    clock.now += 1.5  # no callback for 1.5 s
    assert recorder.health() == UNPLUGGED
    recording = recorder.stop()
    assert recording.warning == UNPLUGGED
    assert recording.seconds == pytest.approx(0.4, abs=0.002)


def test_slow_first_block_gets_a_grace_period() -> None:
    clock = ManualClock()
    fake = FakeSoundDevice(np.zeros((0, 2), np.float32), tail="none")  # never calls back
    recorder = Recorder(fake, clock=clock)
    recorder.start()
    clock.now += 2.5
    assert recorder.health() is None
    clock.now += 1.0
    assert recorder.health() == UNPLUGGED
    assert recorder.stop().audio.size == 0


def test_overflow_status_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeSoundDevice(noise(0.3), speed=SPEED, tail="none", overflow_blocks={3})
    recorder = Recorder(fake)
    with caplog.at_level(logging.WARNING, logger="assistant.audio.recorder"):
        recorder.start()
        fake.streams[0].exhausted.wait(5)
        recorder.stop()
    assert "input overflow" in caplog.text


def test_no_device_at_all() -> None:
    recorder = Recorder(FakeSoundDevice.without_devices())
    assert recorder.availability() == (False, NO_MICROPHONE)
    with pytest.raises(MicrophoneError) as error:
        recorder.start()
    assert error.value.reason == "no_device" and str(error.value) == NO_MICROPHONE


def test_output_only_devices() -> None:
    recorder = Recorder(FakeSoundDevice.output_only())
    assert recorder.availability() == (False, NO_INPUT)
    with pytest.raises(MicrophoneError, match="only play audio") as error:
        recorder.start()
    assert error.value.reason == "no_input"


def test_busy_device() -> None:
    with pytest.raises(MicrophoneError) as error:
        Recorder(FakeSoundDevice(busy=True)).start()
    assert error.value.reason == "busy" and error.value.message == BUSY


def test_other_portaudio_error_keeps_its_text() -> None:
    fake = FakeSoundDevice(open_error=PortAudioError("Unanticipated host error", -9999))
    with pytest.raises(MicrophoneError, match="Unanticipated host error") as error:
        Recorder(fake).start()
    assert error.value.reason == "portaudio"
    copy = pickle.loads(pickle.dumps(error.value))
    assert (copy.message, copy.reason) == (error.value.message, "portaudio")


def test_refused_rate_falls_back_and_still_gives_16k() -> None:
    mic = device("USB Mic", 1, 0, 44_100, 0)
    fake = FakeSoundDevice(noise(0.5, 16_000)[:, :1], devices=[mic], supported_rates={16_000},
                           speed=SPEED, tail="none")  # fmt: skip
    recorder = Recorder(fake)
    recorder.start()
    assert [rate for rate, _ in fake.open_attempts] == [44_100, 48_000, 16_000]
    fake.streams[0].exhausted.wait(5)
    recording = recorder.stop()
    assert recorder.samplerate == 16_000 and recording.seconds == pytest.approx(0.5, abs=0.002)


def test_no_rate_accepted() -> None:
    fake = FakeSoundDevice(supported_rates={8_000})
    with pytest.raises(MicrophoneError, match="none of the rates") as error:
        Recorder(fake).start()
    assert error.value.reason == "unsupported"


def test_mono_refused_opens_all_channels_and_mixes_them() -> None:
    fake = FakeSoundDevice(noise(0.3), refuse_mono=True, speed=SPEED, tail="none")
    recorder = Recorder(fake)
    recorder.start()
    assert fake.streams[0].channels == 2
    fake.streams[0].exhausted.wait(5)
    assert recorder.stop().audio.ndim == 1


def test_failing_listener_does_not_end_the_recording_and_it_can_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_: object) -> None:
        raise ValueError("listener bug")

    fake = FakeSoundDevice(noise(0.3), speed=SPEED, tail="none")
    recorder = Recorder(fake, on_chunk=broken, on_level=broken)
    for _ in range(2):
        recorder.start()
        with pytest.raises(RuntimeError):
            recorder.start()
        fake.streams[-1].exhausted.wait(5)
        assert recorder.stop().seconds == pytest.approx(0.3, abs=0.002)
    assert "listener bug" in caplog.text and len(fake.streams) == 2
    with pytest.raises(RuntimeError):
        recorder.stop()


def test_first_input_device_used_when_no_default_is_set() -> None:
    fake = FakeSoundDevice(noise(0.1), speed=SPEED, tail="none")
    fake.default.device = [-1, 1]
    recorder = Recorder(fake)
    recorder.start()
    assert fake.streams[0].device == 0
    recorder.stop()


# -- the real sounddevice module on this machine ----------------------------------------------------


def test_real_sounddevice_loads_and_reports_missing_microphone() -> None:
    module, reason = load_sounddevice()
    assert module is not None and reason == ""
    if len(module.query_devices()):
        pytest.skip("this machine has audio devices")
    recorder = Recorder(module)
    assert recorder.availability() == (False, NO_MICROPHONE)
    with pytest.raises(MicrophoneError):
        recorder.start()


def test_missing_portaudio_turns_push_to_talk_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_sounddevice("broken_sounddevice") == (None, NO_LIBRARY)
    assert load_sounddevice("no_such_audio_module_here") == (None, NO_LIBRARY)
    assert Recorder(None).availability() == (False, NO_LIBRARY)
