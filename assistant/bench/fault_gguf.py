"""GGUF mutants for the reliability sweep (issue 15): a tiny real model, then one field at a time broken.

The seed is a model llama.cpp really loads (SmolLM2's tokenizer and chat template, copied byte for byte,
with two tiny layers of 64 wide instead of 30 of 576: 3.5 MB, loaded in a fraction of a second), so a
mutant that passes the app's preflight goes on into llama.cpp itself. Mutations are aimed where a
damaged or hostile file lies: the header's version and counts, every key's and string's length, value
types, array element types and counts, the hyperparameters llama.cpp divides and allocates by, tensor
names, dimension counts, shapes, types and data offsets, plus bit flips and cuts anywhere in the header.
Everything is seeded: a run makes the same files every time.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.models.gguf import _U32, _U64, GGML_TYPES, ValueType, read_header

_SEED_LAYERS = 2
_SEED_WIDTH = 64
_SEED_FFN = 128
_SEED_HEADS = 4
_SEED_KV_HEADS = 2
# Hyperparameters rewritten for the tiny seed (all UINT32 in SmolLM2's file).
_TINY = {
    "llama.block_count": _SEED_LAYERS,
    "llama.context_length": 512,
    "llama.embedding_length": _SEED_WIDTH,
    "llama.feed_forward_length": _SEED_FFN,
    "llama.attention.head_count": _SEED_HEADS,
    "llama.attention.head_count_kv": _SEED_KV_HEADS,
    "llama.rope.dimension_count": _SEED_WIDTH // _SEED_HEADS,
}
Q8_0, F32 = 8, 0


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _U64.pack(len(raw)) + raw


@dataclass(frozen=True)
class Spot:
    """One place in the seed's header that a mutation may rewrite."""

    what: str  # e.g. "length of key 'llama.block_count'", "offset of tensor 'blk.0.attn_q.weight'"
    at: int  # byte offset in the file
    size: int  # 4 or 8 (little-endian unsigned)
    value: int  # what the seed holds there


@dataclass(frozen=True)
class Seed:
    data: bytes
    spots: tuple[Spot, ...]
    header_end: int


def _tensors(vocab: int) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape in GGUF order, ggml type) of a llama model with the tiny sizes above."""
    w, ffn, kv = _SEED_WIDTH, _SEED_FFN, _SEED_WIDTH // _SEED_HEADS * _SEED_KV_HEADS
    out: list[tuple[str, tuple[int, ...], int]] = [("token_embd.weight", (w, vocab), Q8_0),
                                                   ("output_norm.weight", (w,), F32)]
    for layer in range(_SEED_LAYERS):
        block = f"blk.{layer}."
        out += [(block + "attn_norm.weight", (w,), F32), (block + "attn_q.weight", (w, w), F32),
                (block + "attn_k.weight", (w, kv), F32), (block + "attn_v.weight", (w, kv), F32),
                (block + "attn_output.weight", (w, w), F32), (block + "ffn_norm.weight", (w,), F32),
                (block + "ffn_gate.weight", (w, ffn), F32), (block + "ffn_up.weight", (w, ffn), F32),
                (block + "ffn_down.weight", (ffn, w), F32)]
    return out


def _n_bytes(shape: tuple[int, ...], ggml_type: int) -> int:
    _, block, size = GGML_TYPES[ggml_type]
    n = 1
    for d in shape:
        n *= d
    return n // block * size


def _tensor_data(name: str, shape: tuple[int, ...], ggml_type: int, rng: random.Random) -> bytes:
    """Small weights (norms are ones), so a loaded mutant can also run without NaNs."""
    count = 1
    for d in shape:
        count *= d
    if ggml_type == Q8_0:  # blocks of 32: one f16 scale, 32 int8 quants
        block = struct.pack("<e", 0.01)
        blocks = count // 32
        quants = bytes(rng.randrange(256) for _ in range(32 * 64))  # a pool, repeated: fast to make
        out = bytearray()
        for i in range(blocks):
            start = (i * 7) % (len(quants) - 32)
            out += block + quants[start:start + 32]
        return bytes(out)
    if name.endswith("norm.weight"):
        return struct.pack(f"<{count}f", *([1.0] * count))
    return struct.pack(f"<{count}f", *(rng.uniform(-0.05, 0.05) for _ in range(count)))


def build_seed(source: Path, extra: dict[str, int] | None = None) -> Seed:
    """The tiny model: `source`'s metadata (SmolLM2's tokenizer, template) with the sizes above, plus
    `extra` UINT32 keys (e.g. expert counts a llama model does not have)."""
    h = read_header(source)
    raw = _head(source, h.tensor_info_offset)  # the metadata records, copied verbatim
    vocab = len_or(h.get("tokenizer.ggml.tokens"))
    extra = extra or {}
    out = bytearray(b"GGUF" + _U32.pack(3))
    spots: list[Spot] = [Spot("GGUF version", 4, 4, 3)]
    tensors = _tensors(vocab)
    spots.append(Spot("tensor count", len(out), 8, len(tensors)))
    out += _U64.pack(len(tensors))
    spots.append(Spot("metadata count", len(out), 8, len(h.fields) + len(extra)))
    out += _U64.pack(len(h.fields) + len(extra))
    for key, value in extra.items():
        out += _string(key) + _U32.pack(ValueType.UINT32) + _U32.pack(value)
    for f in h.fields:
        start = len(out)
        if f.key in _TINY:
            out += _string(f.key) + _U32.pack(ValueType.UINT32) + _U32.pack(_TINY[f.key])
        else:
            out += raw[f.start:f.end]
        key_len = len(f.key.encode())
        spots.append(Spot(f"length of key '{f.key}'", start, 8, key_len))
        type_at = start + 8 + key_len
        spots.append(Spot(f"value type of '{f.key}'", type_at, 4, int(f.type)))
        value_at = type_at + 4
        if f.type == ValueType.STRING:
            length = int.from_bytes(out[value_at:value_at + 8], "little")
            spots.append(Spot(f"string length of '{f.key}'", value_at, 8, length))
        elif f.type == ValueType.ARRAY:
            spots.append(Spot(f"element type of '{f.key}'", value_at, 4, int(f.array_type or 0)))
            spots.append(Spot(f"element count of '{f.key}'", value_at + 4, 8, int(f.count or 0)))
            if f.array_type == ValueType.STRING:  # the first element's length
                first = int.from_bytes(out[value_at + 12:value_at + 20], "little")
                spots.append(Spot(f"length of the first string of '{f.key}'", value_at + 12, 8, first))
        elif f.type in (ValueType.UINT32, ValueType.INT32):
            value = int.from_bytes(out[value_at:value_at + 4], "little")
            spots.append(Spot(f"value of '{f.key}'", value_at, 4, value))
        elif f.type in (ValueType.UINT64, ValueType.INT64):
            value = int.from_bytes(out[value_at:value_at + 8], "little")
            spots.append(Spot(f"value of '{f.key}'", value_at, 8, value))
    offset = 0
    rng = random.Random(15)
    data = bytearray()
    for name, shape, ggml_type in tensors:
        start = len(out)
        out += _string(name)
        spots.append(Spot(f"name length of tensor '{name}'", start, 8, len(name)))
        spots.append(Spot(f"dimension count of tensor '{name}'", len(out), 4, len(shape)))
        out += _U32.pack(len(shape))
        for axis, d in enumerate(shape):
            spots.append(Spot(f"dimension {axis} of tensor '{name}'", len(out), 8, d))
            out += _U64.pack(d)
        spots.append(Spot(f"type of tensor '{name}'", len(out), 4, ggml_type))
        out += _U32.pack(ggml_type)
        spots.append(Spot(f"data offset of tensor '{name}'", len(out), 8, offset))
        out += _U64.pack(offset)
        payload = _tensor_data(name, shape, ggml_type, rng)
        assert len(payload) == _n_bytes(shape, ggml_type)
        data += payload + bytes(-len(payload) % 32)
        offset += -(-len(payload) // 32) * 32
    header_end = len(out)
    out += bytes(-len(out) % 32)
    return Seed(bytes(out + data), tuple(spots), header_end)


def _head(path: Path, end: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(end)


def len_or(value: object) -> int:
    count = getattr(value, "count", None)
    if isinstance(count, int):
        return count
    if isinstance(value, list):
        return len(value)
    raise ValueError("the source model has no tokenizer.ggml.tokens array")


@dataclass(frozen=True)
class Mutant:
    name: str  # what was done, for the report
    data: bytes


def _interesting(value: int, size: int, rng: random.Random) -> list[int]:
    top = (1 << (8 * size)) - 1
    picks = {0, 1, 2, 3, 4, 255, 0x7F, top, top >> 1, (top >> 1) + 1, value + 1, max(value - 1, 0),
             value * 2, value * 1000, 1 << 31, (1 << 32) - 1, 1 << 40, rng.getrandbits(8 * size)}
    return sorted(v & top for v in picks if (v & top) != value)


def _duplicate_token(seed: Seed) -> bytes:
    """The seed with one vocabulary entry overwritten by another of the same length (2 bytes change)."""
    data = bytearray(seed.data)
    spot = next(s for s in seed.spots if s.what == "length of the first string of 'tokenizer.ggml.tokens'")
    pos, by_length = spot.at, {}
    for index in range(2000):
        n = int.from_bytes(data[pos:pos + 8], "little")
        token = bytes(data[pos + 8:pos + 8 + n])
        if index >= 300 and n in by_length and by_length[n] != token:
            data[pos + 8:pos + 8 + n] = by_length[n]
            break
        by_length.setdefault(n, token)
        pos += 8 + n
    return bytes(data)


def aimed(source: Path, seed: Seed) -> list[Mutant]:
    """Damage that reaches llama.cpp's GGML_ASSERTs (an abort of the whole process, not an error)
    unless the preflight refuses it: a repeated vocabulary entry, layer and expert counts out of range."""
    def with_keys(extra: dict[str, int]) -> bytes:
        return build_seed(source, extra).data

    def with_layers(layers: int) -> bytes:
        data = bytearray(seed.data)
        spot = next(s for s in seed.spots if s.what == "value of 'llama.block_count'")
        data[spot.at:spot.at + 4] = layers.to_bytes(4, "little")
        return bytes(data)

    return [
        Mutant("a vocabulary entry repeated", _duplicate_token(seed)),
        Mutant("llama.block_count 0", with_layers(0)),
        Mutant("llama.block_count 513", with_layers(513)),
        Mutant("llama.expert_count 2000",
               with_keys({"llama.expert_count": 2000, "llama.expert_used_count": 2})),
        Mutant("8 experts used of 4", with_keys({"llama.expert_count": 4, "llama.expert_used_count": 8})),
        Mutant("experts used without experts", with_keys({"llama.expert_used_count": 2})),
        Mutant("8 expert groups for 8 experts",
               with_keys({"llama.expert_count": 8, "llama.expert_used_count": 2,
                          "llama.expert_group_count": 8})),
        Mutant("llama.nextn_predict_layers 5 of 2 layers", with_keys({"llama.nextn_predict_layers": 5})),
    ]


def mutants(seed: Seed, count: int, rng_seed: int = 15, first: list[Mutant] | None = None
            ) -> Iterator[Mutant]:
    """`count` mutants of the seed: `first` (the aimed ones), then structure-aware ones (every spot
    gets its turn), then random ones."""
    first = list(first or [])
    yield from first[:count]
    count -= min(count, len(first))
    rng = random.Random(rng_seed)
    spots = list(seed.spots)
    rng.shuffle(spots)
    made = 0
    # Round-robin over kinds so a quick run already covers fields, counts, lengths, tensors and cuts.
    kinds = ["spot", "spot", "spot", "flip", "cut", "spot", "bytes", "spot"]
    spot_values = {s: _interesting(s.value, s.size, rng) for s in spots}
    next_spot = 0
    while made < count:
        kind = kinds[made % len(kinds)]
        data = bytearray(seed.data)
        if kind == "spot":
            spot = spots[next_spot % len(spots)]
            choices = spot_values[spot]
            value = choices[(next_spot // len(spots)) % len(choices)] if (next_spot // len(spots)) < 3 \
                else rng.choice(choices)
            next_spot += 1
            data[spot.at:spot.at + spot.size] = value.to_bytes(spot.size, "little")
            name = f"{spot.what} {spot.value} -> {value}"
        elif kind == "flip":
            flips = 1 + rng.randrange(8)
            for _ in range(flips):
                at = rng.randrange(seed.header_end)
                data[at] ^= 1 << rng.randrange(8)
            name = f"{flips} bit flips in the header"
        elif kind == "bytes":
            at = rng.randrange(seed.header_end - 8)
            filler = rng.choice([b"\xff" * 8, b"\x00" * 8, rng.randbytes(8)])
            data[at:at + 8] = filler
            name = f"8 bytes at {at} overwritten with {filler.hex()}"
        else:
            cut = rng.choice([rng.randrange(4, seed.header_end), rng.randrange(seed.header_end, len(data))])
            del data[cut:]
            name = f"cut at byte {cut} of {len(seed.data)}"
        made += 1
        yield Mutant(name, bytes(data))
