"""CLIP text → token ids with the `tokenizers` package, equal to ``open_clip.tokenize``.

OpenCLIP cleans text with ftfy before BPE. ftfy is not a run-time dependency, so `clean_text` redoes
the parts of ``ftfy.fix_text`` that change ordinary text (ligatures, full-width forms, curly quotes,
control characters, NFC) plus OpenCLIP's HTML unescaping, whitespace collapsing and lower-casing. Not
reproduced: ftfy's repair of mojibake (text decoded with the wrong encoding), which only changes text
that was already garbled.
"""

from __future__ import annotations

import html
import re
import string
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.protocols import ModelError

_LIGATURES = {
    ord("Ĳ"): "IJ", ord("ĳ"): "ij", ord("ŉ"): "ʼn", ord("Ǳ"): "DZ", ord("ǲ"): "Dz", ord("ǳ"): "dz",
    ord("Ǆ"): "DŽ", ord("ǅ"): "Dž", ord("ǆ"): "dž", ord("Ǉ"): "LJ", ord("ǈ"): "Lj", ord("ǉ"): "lj",
    ord("Ǌ"): "NJ", ord("ǋ"): "Nj", ord("ǌ"): "nj", ord("ﬀ"): "ff", ord("ﬁ"): "fi", ord("ﬂ"): "fl",
    ord("ﬃ"): "ffi", ord("ﬄ"): "ffl", ord("ﬅ"): "ſt", ord("ﬆ"): "st",
}
_WIDTH = {0x3000: " "} | {
    i: unicodedata.normalize("NFKC", chr(i)) for i in range(0xFF01, 0xFFF0)
    if unicodedata.normalize("NFKC", chr(i)) != chr(i)
}
_CONTROL = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, *range(0x206A, 0x2070), 0xFEFF,
     *range(0xFFF9, 0xFFFD)])
_SINGLE_QUOTES = re.compile("[\u02bc\u2018-\u201b]")
_DOUBLE_QUOTES = re.compile("[\u201c-\u201f]")
_TERMINAL_ESCAPES = re.compile("\033\\[((?:\\d|;)*)([a-zA-Z])")
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029\u0085]")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _fix_text(text: str) -> str:
    """The ordinary-text part of ``ftfy.fix_text``, repeated until nothing changes, as ftfy does."""
    unescape = "<" not in text  # ftfy leaves entities alone in text that looks like HTML
    while True:
        before = text
        if unescape:
            text = html.unescape(text)
        text = text.translate(_LIGATURES).translate(_WIDTH)
        text = _DOUBLE_QUOTES.sub('"', _SINGLE_QUOTES.sub("'", text))
        text = _LINE_BREAKS.sub("\n", text)
        text = _TERMINAL_ESCAPES.sub("", text).translate(_CONTROL)
        text = unicodedata.normalize("NFC", text)
        if text == before:
            return text


def clean_text(text: str, mode: str = "lower") -> str:
    """OpenCLIP's ``basic_clean`` followed by its ``lower`` / ``whitespace`` / ``canonicalize`` step."""
    text = html.unescape(html.unescape(_fix_text(text))).strip()
    if mode == "canonicalize":
        text = text.replace("_", " ").translate(_PUNCTUATION).lower()
    text = " ".join(text.split()).strip()
    return text.lower() if mode == "lower" else text


class ClipTokenizer:
    """Fixed-length id arrays: start token, BPE ids, end token, zero padding (as OpenCLIP pads)."""

    def __init__(self, path: Path, context_length: int, clean: str = "lower") -> None:
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except FileNotFoundError:
            raise ModelError(f"the CLIP tokenizer {path} is missing") from None
        except Exception as exc:  # tokenizers raises a bare Exception for any malformed file
            raise ModelError(f"the CLIP tokenizer {path} is damaged ({exc})") from None
        # clean_text already did everything the file's normalizer would, and did it exactly.
        self._tokenizer.normalizer = None
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.start_id = self._tokenizer.token_to_id("<start_of_text>")
        self.end_id = self._tokenizer.token_to_id("<end_of_text>")
        if self.start_id is None or self.end_id is None:
            raise ModelError(f"the CLIP tokenizer {path} has no start/end tokens; it is not CLIP's")
        self.context_length = context_length
        self.clean = clean

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """int64 (N, context_length); a text that is too long keeps its start and ends with the end id."""
        ids = np.zeros((len(texts), self.context_length), dtype=np.int64)
        encodings = self._tokenizer.encode_batch([clean_text(t, self.clean) for t in texts])
        for row, encoding in enumerate(encodings):
            tokens = encoding.ids  # the post-processor added start and end
            if len(tokens) > self.context_length:
                tokens = [*tokens[:self.context_length - 1], self.end_id]
            ids[row, :len(tokens)] = tokens
        return ids


class ExportedTokenizer:
    """A Hugging Face tokenizer.json as Immich's export ships it (``assistant.clip.immich``): its own
    normaliser, pre-tokeniser and post-processor (start and end tokens), padded to ``context_length``
    with ``pad_token`` and truncated there (the end token kept), as Immich runs it. Text is cleaned as
    OpenCLIP cleans it first."""

    def __init__(self, path: Path, context_length: int, clean: str, pad_token: str) -> None:
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_file(str(path))
        except FileNotFoundError:
            raise ModelError(f"the CLIP tokenizer {path} is missing") from None
        except Exception as exc:  # tokenizers raises a bare Exception for any malformed file
            raise ModelError(f"the CLIP tokenizer {path} is damaged ({exc})") from None
        pad_id = self._tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise ModelError(f"the CLIP tokenizer {path} has no {pad_token!r} token to pad with")
        self._tokenizer.enable_padding(length=context_length, pad_id=pad_id, pad_token=pad_token)
        self._tokenizer.enable_truncation(max_length=context_length)
        self.context_length = context_length
        self.clean = clean

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """int64 (N, context_length)."""
        encodings = self._tokenizer.encode_batch([clean_text(t, self.clean) for t in texts])
        if not encodings:
            return np.zeros((0, self.context_length), dtype=np.int64)
        return np.asarray([e.ids for e in encodings], dtype=np.int64)
