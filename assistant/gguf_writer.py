"""Rewrite a GGUF file with some string metadata replaced, tensor data copied unchanged.

Tests use it to plant hostile or broken chat templates in a real model; it lives apart from the
reader in ``gguf.py`` because the app itself never writes model files.
"""

from __future__ import annotations

import os
from pathlib import Path

from assistant.gguf import _U32, _U64, ValueType, read_header


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
