"""SentenceSplitter: speakable sentences out of streamed Markdown, as early as possible."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from assistant.voice.speech_text import SentenceSplitter, clean_for_speech


def split_whole(text: str) -> list[str]:
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()


def split_streamed(text: str, seed: int) -> list[str]:
    """Feed `text` in random 1-4 character pieces, the way an LLM streams tokens."""
    rng = random.Random(seed)
    splitter = SentenceSplitter()
    out: list[str] = []
    i = 0
    while i < len(text):
        n = rng.randint(1, 4)
        out += splitter.feed(text[i:i + n])
        i += n
    return out + splitter.flush()


CASES = [
    ("Hello world. How are you? Fine!", ["Hello world.", "How are you?", "Fine!"]),
    ("Use a hammer, e.g. this one. Or i.e. that one.", ["Use a hammer, e.g. this one.", "Or i.e. that one."]),
    ("Dr. Smith and Mr. Jones met. They talked.", ["Dr. Smith and Mr. Jones met.", "They talked."]),
    ("Pi is about 3.14 here. Version 2.0.1 works.", ["Pi is about 3.14 here.", "Version 2.0.1 works."]),
    ("Wait… really?! Yes... it is.", ["Wait…", "really?!", "Yes...", "it is."]),
    ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
    ("J. R. R. Tolkien wrote it. Done.", ["J. R. R. Tolkien wrote it.", "Done."]),
    ("Apples, pears, etc. are fruit. Bread etc. Then more.",
     ["Apples, pears, etc. are fruit.", "Bread etc.", "Then more."]),
    ("See https://docs.python.org/3/library/re.html?x=1. It helps.", ["See docs.python.org", "It helps."]),
    ("Read [the guide](https://example.com/a.b) now. Go.", ["Read the guide now.", "Go."]),
    ("First paragraph without a stop\n\nSecond one", ["First paragraph without a stop", "Second one"]),
    ("No terminator at the end", ["No terminator at the end"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_sentences_whole_and_streamed(text: str, expected: list[str]) -> None:
    assert split_whole(text) == expected
    for seed in range(5):
        assert split_streamed(text, seed) == expected


def test_numbered_list_items_are_not_sentence_ends() -> None:
    text = "Steps:\n1. Open the lid.\n2. Pour the water\n10) Wait\nThe end."
    assert split_whole(text) == ["Steps:", "Open the lid.", "Pour the water", "Wait", "The end."]
    assert split_streamed(text, 3) == split_whole(text)


def test_code_blocks_are_skipped() -> None:
    text = ("Run this:\n```python\nprint('Hello. World.')\nx = 3.5\n```\nThen check it. Also:\n"
            "~~~\nrm -rf build. \n~~~\nDone.")
    expected = ["Run this:", "Then check it.", "Also:", "Done."]
    assert split_whole(text) == expected
    for seed in range(10):
        assert split_streamed(text, seed) == expected


def test_unclosed_code_block_at_the_end_says_nothing_more() -> None:
    assert split_whole("Here:\n```\ncode. more code.") == ["Here:"]


def test_inline_backticks_are_not_fences() -> None:
    assert split_whole("`pip install x` works. Yes.") == ["pip install x works.", "Yes."]


def test_markdown_markers_are_stripped() -> None:
    text = ("# Title\n## Sub **bold** heading\n- item *one*\n* item __two__\n+ item ~~three~~\n"
            "> quoted `code` here\n- [x] done task\n---\n| a | b |\n|---|:-:|\n| 1 | 2 |\n")
    assert split_whole(text) == ["Title", "Sub bold heading", "item one", "item two", "item three",
                                 "quoted code here", "done task", "a, b", "1, 2"]


def test_snake_case_and_lone_symbols_survive() -> None:
    text = "call my_function with 2 * 3"
    assert clean_for_speech(text, at_line_start=True) == text
    assert clean_for_speech("***", at_line_start=True) == ""
    assert clean_for_speech("  :  ", at_line_start=False) == ""


def test_sentence_is_released_as_soon_as_the_next_character_arrives() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("It is 3.") == []  # could still become 3.14
    assert splitter.feed(" Next") == ["It is 3."]
    assert splitter.feed(" one!") == []
    assert splitter.feed("\n") == ["Next one!"]
    assert splitter.flush() == []


def test_flush_resets_for_the_next_answer() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("```\ncode. ") == []
    assert splitter.flush() == []
    assert splitter.feed("Fresh start. ") == ["Fresh start."]


def test_speech_modules_import_no_ml_or_gui_library() -> None:
    code = ("import sys, assistant.voice.speech_text\n"
            "print(','.join(m for m in ('PySide6', 'onnxruntime', 'piper', 'sounddevice', 'llama_cpp')"
            " if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
