"""Write GGUF files for tests: rewrite a real one, or build a small one from scratch.

``write_gguf_copy`` plants hostile or broken chat templates in a real model. ``write_gguf`` builds
a file from metadata and tensors: no vision GGUF or mmproj can be downloaded on these machines, so
the vision tests generate their own (a projector header, or a tiny projector llama.cpp really runs).
This lives apart from the reader in ``gguf.py`` because the app itself never writes model files.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.models.gguf import _U32, _U64, DEFAULT_ALIGNMENT, GGML_TYPES, ValueType, read_header


def _gguf_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _U64.pack(len(raw)) + raw


def write_gguf_copy(src: Path | str, dst: Path | str, metadata_overrides: dict[str, str]) -> None:
    """Copies ``src`` to ``dst`` with some string metadata replaced or added.

    Tensor infos are copied verbatim: their offsets are relative to the data section, so only the
    data section's start moves (re-padded to the alignment) and llama.cpp still loads the copy."""
    src, dst = Path(src), Path(dst)
    h = read_header(src)
    by_key = {f.key: f for f in h.fields}
    for key in metadata_overrides:
        f = by_key.get(key)
        if f is not None and f.type != ValueType.STRING:
            raise ValueError(f"cannot replace {key} ({f.type.name.lower()}) with a string")
    with open(src, "rb") as fin:
        head = fin.read(h.header_end)
        out = bytearray(head[:8])  # magic + version
        new_keys = [k for k in metadata_overrides if k not in by_key]
        out += _U64.pack(len(h.tensors)) + _U64.pack(len(h.fields) + len(new_keys))
        for f in h.fields:
            if f.key in metadata_overrides:
                out += _gguf_string(f.key) + _U32.pack(ValueType.STRING)
                out += _gguf_string(metadata_overrides[f.key])
            else:
                out += head[f.start:f.end]
        for key in new_keys:
            out += _gguf_string(key) + _U32.pack(ValueType.STRING) + _gguf_string(metadata_overrides[key])
        out += head[h.tensor_info_offset:h.header_end]
        out += bytes(-len(out) % h.alignment)
        tmp = dst.with_name(dst.name + ".tmp")
        try:
            with open(tmp, "wb") as fout:
                fout.write(out)
                fin.seek(h.data_offset)
                while chunk := fin.read(8 << 20):
                    fout.write(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
    read_header(dst)  # the copy must pass the same check as any model


# --- building a file from scratch -------------------------------------------------------------------

@dataclass(frozen=True)
class Typed:
    """A metadata value with an explicit GGUF type, where the inferred one would be wrong (e.g. an
    INT32 array, or a UINT64 scalar). For arrays ``type`` is the element type."""

    type: ValueType
    value: Any


@dataclass(frozen=True)
class TensorData:
    """One tensor: ``shape`` in GGUF order (ne0 first), ``data`` its raw bytes (None: zeros)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int = 0  # F32
    data: bytes | None = None

    @property
    def n_bytes(self) -> int:
        _, block, size = GGML_TYPES[self.ggml_type]
        n = 1
        for d in self.shape:
            n *= d
        return n // block * size


def _infer(value: Any) -> tuple[ValueType, Any]:
    if isinstance(value, Typed):
        return value.type, value.value
    if isinstance(value, bool):
        return ValueType.BOOL, value
    if isinstance(value, int):
        return (ValueType.UINT32 if 0 <= value < 1 << 32 else ValueType.INT64), value
    if isinstance(value, float):
        return ValueType.FLOAT32, value
    if isinstance(value, str):
        return ValueType.STRING, value
    raise TypeError(f"cannot infer a GGUF type for {value!r}; wrap it in Typed")


def _scalar_bytes(vtype: ValueType, value: Any) -> bytes:
    if vtype == ValueType.STRING:
        return _gguf_string(value)
    codes = {ValueType.UINT8: "B", ValueType.INT8: "b", ValueType.UINT16: "H", ValueType.INT16: "h",
             ValueType.UINT32: "I", ValueType.INT32: "i", ValueType.FLOAT32: "f", ValueType.BOOL: "?",
             ValueType.UINT64: "Q", ValueType.INT64: "q", ValueType.FLOAT64: "d"}
    return struct.pack("<" + codes[vtype], value)


def _kv_bytes(key: str, value: Any) -> bytes:
    out = _gguf_string(key)
    if isinstance(value, list) or (isinstance(value, Typed) and isinstance(value.value, list)):
        if isinstance(value, Typed):
            etype, items = value.type, value.value
        else:
            items = value
            etype = _infer(items[0])[0] if items else ValueType.UINT32
        out += _U32.pack(ValueType.ARRAY) + _U32.pack(etype) + _U64.pack(len(items))
        return out + b"".join(_scalar_bytes(etype, v) for v in items)
    vtype, raw = _infer(value)
    return out + _U32.pack(vtype) + _scalar_bytes(vtype, raw)


def write_gguf(path: Path | str, metadata: Mapping[str, Any], tensors: Iterable[TensorData] = (),
               alignment: int = DEFAULT_ALIGNMENT) -> Path:
    """Writes a GGUF v3 file; Python values map to GGUF types as bool, int -> UINT32, float ->
    FLOAT32, str, list -> array of the first element's type (``Typed`` overrides)."""
    path = Path(path)
    tensors = list(tensors)
    out = bytearray(b"GGUF" + _U32.pack(3) + _U64.pack(len(tensors)) + _U64.pack(len(metadata)))
    for key, value in metadata.items():
        out += _kv_bytes(key, value)
    offset = 0
    for t in tensors:
        out += _gguf_string(t.name) + _U32.pack(len(t.shape))
        out += struct.pack(f"<{len(t.shape)}Q", *t.shape) + _U32.pack(t.ggml_type) + _U64.pack(offset)
        offset += -(-t.n_bytes // alignment) * alignment
    out += bytes(-len(out) % alignment)
    for t in tensors:
        data = t.data if t.data is not None else bytes(t.n_bytes)
        if len(data) != t.n_bytes:
            raise ValueError(f"tensor {t.name}: {len(data)} bytes given, {t.n_bytes} expected")
        out += data + bytes(-len(data) % alignment)
    path.write_bytes(bytes(out))
    return path
