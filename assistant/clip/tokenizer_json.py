"""Builds a `tokenizers` tokenizer.json equal to OpenCLIP's ``SimpleTokenizer`` (CLIP's byte-level BPE).

OpenCLIP builds its vocabulary at run time from a merges file (``bpe_simple_vocab_16e6.txt.gz``): the
256 byte symbols, the same with the end-of-word mark ``</w>``, one token per merge, then
``<start_of_text>`` and ``<end_of_text>``. The same list in the same order gives the same ids here.
Words are split with CLIP's own pattern (not GPT-2's), then mapped to byte symbols, then merged with
``</w>`` marking the end of each word, exactly as ``SimpleTokenizer.bpe`` does.

Text cleaning (ftfy, HTML entities, whitespace, lower case) is done in Python by
``assistant.clip.tokenizer`` because ftfy has no `tokenizers` equivalent; the normalizer written here
(NFC, whitespace, lower case) is only an approximation for other programs reading the file.
"""

from __future__ import annotations

import gzip
from pathlib import Path

START, END = "<start_of_text>", "<end_of_text>"
# OpenCLIP's word pattern; its IGNORECASE only matters for the contractions, spelled out here.
WORD_PATTERN = (
    r"'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)
_MERGES_USED = 49152 - 256 - 2  # SimpleTokenizer reads this many merges after the header line


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) reversible map from bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def read_merges(path: Path) -> list[tuple[str, str]]:
    """The merges OpenCLIP uses from its gzipped (or plain) merges file."""
    data = path.read_bytes()
    text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8")
    lines = text.split("\n")[1:_MERGES_USED + 1]
    merges = []
    for line in lines:
        first, second = line.split()
        merges.append((first, second))
    return merges


def build_tokenizer_json(merges_file: Path, *, lower: bool = True) -> str:
    """tokenizer.json text for CLIP's BPE with OpenCLIP's ids."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    merges = read_merges(merges_file)
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [START, END]
    vocab = {token: i for i, token in enumerate(vocab_list)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, continuing_subword_prefix="",
                                     end_of_word_suffix="</w>", fuse_unk=False))
    steps = [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.Lowercase()] if lower else steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.Sequence([decoders.ByteLevel(), decoders.Replace("</w>", " ")])
    tokenizer.add_special_tokens([START, END])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{START} $A {END}", special_tokens=[(START, vocab[START]), (END, vocab[END])])
    return tokenizer.to_str(pretty=False)
