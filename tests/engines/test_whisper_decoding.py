"""One decision path for files and push-to-talk (engines/whisper_decoding.py), checked without a model."""

from __future__ import annotations

import pytest

from assistant.protocols import TranscriptionOptions
from assistant.voice.live_transcript import pass_options

pytest.importorskip("faster_whisper")
from faster_whisper.vad import VadOptions

from assistant.engines.whisper_decoding import BEAM_SIZE, FILE_VAD, PUSH_TO_TALK_VAD, decoding, heard_nothing


def test_files_and_push_to_talk_decode_with_the_same_beam_prompt_and_language() -> None:
    terms = ("Okafor", "PySide6")
    file = decoding(TranscriptionOptions(language="en", context=terms))
    held = decoding(pass_options("en", context=terms))
    assert file.beam_size == held.beam_size == BEAM_SIZE == 5  # the library's own default, not greedy
    assert file.hotwords == held.hotwords == "Okafor PySide6"
    assert file.language == held.language == "en" and file.task == held.task == "transcribe"
    # They differ only where a held key's short clip asks for it.
    assert (file.short_context, held.short_context) == (False, True)
    assert (file.vad, held.vad) == (FILE_VAD, PUSH_TO_TALK_VAD)
    assert VadOptions() == FILE_VAD  # faster-whisper's own VAD parameters for files
    # The text a held key sends comes from its final pass: decoded exactly as the file would be.
    assert decoding(pass_options("en", context=terms, final=True)) == file


def test_the_library_gets_the_app_settings_and_no_conditioning_on_earlier_text() -> None:
    kwargs = decoding(TranscriptionOptions(task="translate", context=("Nobu",))).library_kwargs()
    assert kwargs == {
        "language": None,
        "task": "translate",
        "beam_size": BEAM_SIZE,
        "vad_filter": True,
        "vad_parameters": FILE_VAD,
        "condition_on_previous_text": False,
        "hotwords": "Nobu",
    }


def test_vad_off_no_terms_and_a_fixed_beam_are_honoured() -> None:
    settings = decoding(TranscriptionOptions(vad=False, beam_size=1))
    assert settings.vad is None and settings.hotwords is None and settings.beam_size == 1
    assert settings.library_kwargs()["vad_filter"] is False


@pytest.mark.parametrize(
    ("text", "no_speech", "logprob", "hotwords"),
    [
        ("Oh", 0.53, -1.23, None),  # the tuning coughs as Whisper base heard them
        ("Thank you very much.", 0.58, -1.26, None),
        ("Okafor Nobu", 0.37, -0.93, "Siobhan Okafor Nobu"),  # the prompt repeated back
        ("Nobu- Nobu- Nobu- Nobu- Nobu- Nobu-", 0.50, -0.83, "Siobhan Okafor Nobu"),
        ("Nguyen Reykjavik", 0.60, -0.65, "Nobu Kubernetes Siobhan Okafor Nguyen Reykjavik"),  # said surely
        ("Nguyen Reykjavik", 0.58, -0.61, "Nobu Kubernetes Siobhan Okafor Nguyen Reykjavik"),
    ],
)
def test_a_cough_heard_as_a_few_unsure_words_or_as_the_prompt_is_not_speech(
    text: str, no_speech: float, logprob: float, hotwords: str | None
) -> None:
    assert heard_nothing(text, no_speech, logprob, hotwords)


@pytest.mark.parametrize(
    ("text", "no_speech", "logprob", "hotwords"),
    [
        ("Yes", 0.23, -0.39, None),  # short answers really said
        ("Stop!", 0.19, -0.79, None),
        ("Okafor", 0.20, -0.73, "Siobhan Okafor Nobu"),  # a name from the chat, really said alone
        ("Siobhan Okafor", 0.05, -0.42, "Siobhan Okafor Nobu"),
        # a noisy sentence Whisper is unsure of is still speech: long texts keep Whisper's own check
        ("please send me a report, I drive a morning, so I can read it", 0.48, -0.90, None),
    ],
)
def test_speech_is_kept(text: str, no_speech: float, logprob: float, hotwords: str | None) -> None:
    assert not heard_nothing(text, no_speech, logprob, hotwords)
