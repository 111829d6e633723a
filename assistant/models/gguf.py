"""GGUF header reader and preflight check in pure Python.

llama.cpp aborts or crashes on some damaged files and its error text names neither the file nor the
cause a user can act on, so every model is checked here first: only the header is read (through
mmap, so a 500 MB model costs a few pages), every length read from the file is checked against the
bytes that remain before anything is allocated or looped over, and the tensor data must lie inside
the file. ``gguf_writer.write_gguf_copy`` rewrites string metadata on top of this reader.
"""

from __future__ import annotations

import logging
import mmap
import stat
import struct
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_LAYERS = 512  # LLAMA_MAX_LAYERS (llama-hparams.h)
MAX_EXPERTS = 1024  # LLAMA_MAX_EXPERTS
MAX_TENSOR_NAME = 63  # GGML_MAX_NAME is 64 including the terminating NUL
MAX_KEY_LENGTH = 65_535  # real keys are < 100 bytes; longer means a damaged length field
INLINE_ARRAY_MAX = 16  # longer arrays are summarised, never materialised
INLINE_STRING_MAX = 1 << 20  # chat templates are ~10 KB; a bigger string is summarised
_MIN_KV_BYTES = 8 + 4 + 1  # key length + value type + smallest value
_MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # name length + n_dims + type + offset

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class GGUFError(Exception):
    """A file that must not be handed to llama.cpp; ``str()`` is a message for the user."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


# GGUF metadata value types, numbered as in the spec (UINT8 = 0 ... FLOAT64 = 12).
ValueType = IntEnum("ValueType", "UINT8 INT8 UINT16 INT16 UINT32 INT32 FLOAT32 BOOL STRING ARRAY "
                    "UINT64 INT64 FLOAT64", start=0)
_SCALARS: dict[int, struct.Struct] = {
    t: struct.Struct("<" + code) for t, code in enumerate("BbHhIif?--Qqd") if code != "-"}


# ggml type id -> (name, elements per block, bytes per block); mirrors gguf-py's GGML_QUANT_SIZES.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18),
}
# Ids that once existed: a file using them is old, not damaged, and the message should say so.
REMOVED_GGML_TYPES = {4: "Q4_2", 5: "Q4_3", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8",
                      36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8"}


@dataclass(frozen=True)
class ArraySummary:
    """Stands in for a long array (e.g. 150k tokenizer strings) that was skipped, not loaded."""

    element_type: str
    count: int

    def __str__(self) -> str:
        return f"<{self.count} x {self.element_type}>"


@dataclass(frozen=True)
class MetadataField:
    key: str
    type: ValueType
    value: Any  # scalar, str, short list, or ArraySummary
    array_type: ValueType | None
    count: int | None  # element count for arrays
    start: int  # byte range of the whole key/value record, for copying it verbatim
    end: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    type_name: str
    offset: int  # relative to the start of the data section
    n_bytes: int


@dataclass(frozen=True)
class GGUFHeader:
    path: Path
    version: int
    fields: list[MetadataField]
    tensors: list[TensorInfo]
    alignment: int
    tensor_info_offset: int  # where the tensor infos start (= end of the metadata)
    header_end: int
    data_offset: int
    file_size: int

    def get(self, key: str, default: Any = None) -> Any:
        for f in self.fields:
            if f.key == key:
                return f.value
        return default


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any]
    architecture: str | None
    name: str | None
    context_length: int | None
    chat_template: str | None
    file_size: int
    data_offset: int
    alignment: int


class _Reader:
    """Cursor over the mapped file; every read is bounds-checked and names what it was reading."""

    def __init__(self, buf: Any, size: int, label: str, path: Path) -> None:
        self.buf, self.size, self.label, self.path, self.pos = buf, size, label, path, 0

    def fail(self, problem: str) -> GGUFError:
        return GGUFError(f"{self.label} {problem}", self.path)

    def need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise self.fail(f"is truncated: {what} at offset {self.pos} needs {n} bytes "
                            f"but the file has only {self.size} bytes")

    def scalar(self, fmt: struct.Struct, what: str) -> Any:
        self.need(fmt.size, what)
        value = fmt.unpack_from(self.buf, self.pos)[0]
        self.pos += fmt.size
        return value

    def length(self, what: str, per_item: int = 1) -> int:
        n = self.scalar(_U64, what)
        if n * per_item > self.size - self.pos:
            raise self.fail(f"is truncated or damaged: {what} is {n} at offset {self.pos - 8}, "
                            f"but only {self.size - self.pos} bytes remain in the file")
        return n

    def string(self, what: str, limit: int | None = None) -> str | ArraySummary:
        n = self.length(f"the length of {what}")
        if limit is not None and n > limit:
            self.pos += n
            return ArraySummary("bytes of string", n)
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")


def _describe_magic(head: bytes) -> str:
    hints = {b"PK\x03\x04": "a ZIP archive", b"\x89PNG": "a PNG image", b"ggjt": "an old GGJT model",
             b"ggml": "an old GGML model", b"lmgg": "an old GGML model", b"<!DO": "an HTML page",
             b"<htm": "an HTML page", b"\x7fELF": "a program"}
    for prefix, what in hints.items():
        if head.startswith(prefix):
            return f"; it looks like {what}"
    if head[8:10] == b'{"':
        return "; it looks like a safetensors file"
    return ""


def _open_checked(path: Path) -> tuple[str, int]:
    """Checks the path is a regular non-empty file; FIFOs and devices would block or lie."""
    label = path.name or str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise GGUFError(f"{path} does not exist", path) from None
    except OSError as exc:
        raise GGUFError(f"cannot read {path}: {exc.strerror or exc}", path) from None
    if stat.S_ISDIR(st.st_mode):
        raise GGUFError(f"{path} is a directory, not a GGUF model file", path)
    if not stat.S_ISREG(st.st_mode):
        raise GGUFError(f"{path} is not a regular file", path)
    if st.st_size == 0:
        raise GGUFError(f"{label} is empty (0 bytes); the copy or download did not finish", path)
    if st.st_size < 24:
        raise GGUFError(f"{label} is too small to be a GGUF file ({st.st_size} bytes)", path)
    return label, st.st_size


def read_header(path: Path | str, check_data: bool = True) -> GGUFHeader:
    """Parses magic, metadata and tensor infos; raises GGUFError for anything llama.cpp would
    reject or trip over. With ``check_data`` every tensor must also lie inside the file."""
    path = Path(path)
    label, size = _open_checked(path)
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            size = min(size, len(mm))  # the file may have shrunk since stat()
            return _parse(_Reader(mm, size, label, path), check_data)
    except PermissionError:
        raise GGUFError(f"cannot read {path}: permission denied", path) from None
    except (struct.error, OverflowError, ValueError) as exc:  # defensive: a read we failed to bound
        raise GGUFError(f"{label} is damaged: {exc}", path) from None
    except OSError as exc:
        raise GGUFError(f"cannot read {path}: {exc.strerror or exc}", path) from None


def _parse(r: _Reader, check_data: bool) -> GGUFHeader:
    head = bytes(r.buf[:16])
    if head[:4] != MAGIC:
        raise r.fail(f"is not a GGUF file (starts with {head[:4]!r}, expected {MAGIC!r})"
                     f"{_describe_magic(head)}")
    r.pos = 4
    version = r.scalar(_U32, "the version")
    if version not in SUPPORTED_VERSIONS:
        if version >= 1 << 16 and int.from_bytes(head[4:8], "big") in SUPPORTED_VERSIONS:
            raise r.fail("is a big-endian GGUF file, which this app cannot load")
        raise r.fail(f"has GGUF version {version}; only versions 2 and 3 are supported"
                     + (" (version 1 is too old; convert it again)" if version == 1 else ""))
    n_tensors = r.scalar(_U64, "the tensor count")
    n_kv = r.scalar(_U64, "the metadata count")
    room = r.size - r.pos
    if n_tensors * _MIN_TENSOR_BYTES + n_kv * _MIN_KV_BYTES > room:
        raise r.fail(f"is truncated or damaged: it claims {n_tensors} tensors and {n_kv} metadata "
                     f"entries, more than a file of {r.size} bytes can hold")
    fields = _read_fields(r, n_kv)
    alignment = DEFAULT_ALIGNMENT
    for f in fields:
        if f.key == "general.alignment":
            if f.type != ValueType.UINT32 or f.value == 0 or f.value & (f.value - 1):
                raise r.fail(f"is damaged: general.alignment is {f.value!r}; "
                             "it must be a power of two")
            alignment = f.value
    _check_hyperparameters(r, fields)
    info_offset = r.pos
    tensors = _read_tensors(r, n_tensors, alignment)
    header_end = r.pos
    data_offset = -(-header_end // alignment) * alignment
    header = GGUFHeader(r.path, version, fields, tensors, alignment, info_offset, header_end,
                        data_offset, r.size)
    if check_data:
        _check_tensor_data(r, header)
    return header


def _check_hyperparameters(r: _Reader, fields: list[MetadataField]) -> None:
    """The layer and expert counts that llama.cpp checks with GGML_ASSERT while loading: a file that
    breaks one does not get an error from llama.cpp, it aborts the whole engine process."""
    values = {f.key: f.value for f in fields}
    arch = values.get("general.architecture")
    if not isinstance(arch, str):
        return

    def count(name: str) -> int | None:
        value = values.get(f"{arch}.{name}")
        if isinstance(value, list):  # per-layer values: llama.cpp checks the largest
            value = max((v for v in value if isinstance(v, int)), default=None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def damaged(problem: str) -> GGUFError:
        return r.fail(f"is damaged: {problem}")

    layers = count("block_count")
    if layers is not None and not 1 <= layers <= MAX_LAYERS:
        raise damaged(f"{arch}.block_count is {layers}; a model has 1 to {MAX_LAYERS} layers")
    nextn = count("nextn_predict_layers")
    if layers is not None and nextn is not None and nextn > layers:
        raise damaged(f"{arch}.nextn_predict_layers is {nextn}, more than its {layers} layers")
    experts, used = count("expert_count") or 0, count("expert_used_count") or 0
    groups, groups_used = count("expert_group_count") or 0, count("expert_group_used_count") or 0
    if experts > MAX_EXPERTS:
        raise damaged(f"{arch}.expert_count is {experts}; llama.cpp handles at most {MAX_EXPERTS}")
    if used > experts or (experts and not used):
        raise damaged(f"{arch}.expert_used_count is {used} for {experts} experts")
    if (experts and groups >= experts) or (not experts and groups):
        raise damaged(f"{arch}.expert_group_count is {groups} for {experts} experts")
    if experts and groups > 1 and (experts % groups or not 0 < groups_used < groups):
        raise damaged(f"{arch} has {experts} experts in {groups} groups, {groups_used} of them used")


def _read_fields(r: _Reader, n_kv: int) -> list[MetadataField]:
    fields: list[MetadataField] = []
    seen: set[str] = set()
    for i in range(n_kv):
        start = r.pos
        key = r.string(f"metadata key #{i}", limit=MAX_KEY_LENGTH)
        if not isinstance(key, str):
            raise r.fail(f"is damaged: metadata key #{i} has a length of {key.count} bytes")
        if key in seen:
            raise r.fail(f"is damaged: metadata key '{key}' appears twice")
        seen.add(key)
        raw_type = r.scalar(_U32, f"the type of metadata key '{key}'")
        try:
            vtype = ValueType(raw_type)
        except ValueError:
            raise r.fail(f"is damaged: metadata key '{key}' has unknown value type {raw_type}") from None
        array_type: ValueType | None = None
        count: int | None = None
        if vtype == ValueType.ARRAY:
            array_type, count, value = _read_array(r, key)
        elif vtype == ValueType.STRING:
            value = r.string(f"the value of '{key}'", limit=INLINE_STRING_MAX)
        else:
            value = r.scalar(_SCALARS[vtype], f"the value of '{key}'")
        fields.append(MetadataField(key, vtype, value, array_type, count, start, r.pos))
    return fields


def _read_array(r: _Reader, key: str) -> tuple[ValueType, int, Any]:
    raw_type = r.scalar(_U32, f"the element type of '{key}'")
    if raw_type == ValueType.ARRAY or raw_type not in ValueType._value2member_map_:
        raise r.fail(f"is damaged: metadata array '{key}' has unsupported element type {raw_type}")
    etype = ValueType(raw_type)
    if etype == ValueType.STRING:
        count = r.length(f"the element count of '{key}'", per_item=8)
        if count <= INLINE_ARRAY_MAX:
            items = [r.string(f"element {j} of '{key}'", limit=INLINE_STRING_MAX)
                     for j in range(count)]
            return etype, count, items
        # Hot loop (~150k tokenizer strings): no per-item checks; lengths are unsigned so the
        # cursor only moves forward, an overrun makes unpack_from raise, and the end is checked.
        pos, unpack, buf = r.pos, _U64.unpack_from, r.buf
        try:
            for _ in range(count):
                pos += 8 + unpack(buf, pos)[0]
        except (struct.error, OverflowError):
            pos = r.size + 1
        if pos > r.size:
            raise r.fail(f"is truncated or damaged: the strings of metadata array '{key}' "
                         f"run past the end of the file ({r.size} bytes)")
        r.pos = pos
        return etype, count, ArraySummary(etype.name.lower(), count)
    fmt = _SCALARS[etype]
    count = r.length(f"the element count of '{key}'", per_item=fmt.size)
    if count <= INLINE_ARRAY_MAX:
        items = [r.scalar(fmt, f"element {j} of '{key}'") for j in range(count)]
        return etype, count, items
    r.pos += count * fmt.size
    return etype, count, ArraySummary(etype.name.lower(), count)


def _read_tensors(r: _Reader, n_tensors: int, alignment: int) -> list[TensorInfo]:
    tensors: list[TensorInfo] = []
    seen: set[str] = set()
    for i in range(n_tensors):
        name = r.string(f"the name of tensor #{i}", limit=MAX_TENSOR_NAME)
        if not isinstance(name, str):
            raise r.fail(f"is damaged: the name of tensor #{i} is {name.count} bytes long")
        if name in seen:
            raise r.fail(f"is damaged: tensor '{name}' appears twice")
        seen.add(name)
        n_dims = r.scalar(_U32, f"the dimension count of tensor '{name}'")
        if n_dims > MAX_DIMS:
            raise r.fail(f"is damaged: tensor '{name}' has {n_dims} dimensions (at most {MAX_DIMS})")
        r.need(8 * n_dims, f"the shape of tensor '{name}'")
        shape = struct.unpack_from(f"<{n_dims}Q", r.buf, r.pos)
        r.pos += 8 * n_dims
        gtype = r.scalar(_U32, f"the type of tensor '{name}'")
        offset = r.scalar(_U64, f"the data offset of tensor '{name}'")
        if gtype not in GGML_TYPES:
            if gtype in REMOVED_GGML_TYPES:
                raise r.fail(f"uses tensor type {REMOVED_GGML_TYPES[gtype]} (tensor '{name}'), "
                             "which llama.cpp no longer supports; convert the model again")
            raise r.fail(f"has tensor '{name}' of unknown type {gtype}; the file is damaged "
                         "or needs a newer llama.cpp")
        type_name, block, type_size = GGML_TYPES[gtype]
        n_elements = 1
        for d in shape:
            n_elements *= d
        if n_elements >= 1 << 63 or (shape and shape[0] % block):
            raise r.fail(f"is damaged: tensor '{name}' has an impossible shape {list(shape)} "
                         f"for type {type_name}")
        if offset % alignment:
            raise r.fail(f"is damaged: tensor '{name}' starts at offset {offset}, "
                         f"which is not a multiple of the alignment {alignment}")
        n_bytes = n_elements // block * type_size
        tensors.append(TensorInfo(name, tuple(shape), gtype, type_name, offset, n_bytes))
    return tensors


def _check_tensor_data(r: _Reader, header: GGUFHeader) -> None:
    if not header.tensors:
        return  # vocab-only files have no data section, so its start may lie past the end
    bad = [t for t in header.tensors if header.data_offset + t.offset + t.n_bytes > r.size]
    if bad:
        first = min(bad, key=lambda t: t.offset)
        end = header.data_offset + first.offset + first.n_bytes
        raise r.fail(f"is truncated: tensor '{first.name}' data ends at byte {end} but the "
                     f"file has {r.size} bytes ({len(bad)} of {len(header.tensors)} tensors "
                     "are incomplete)")


def _check_vocabulary(h: GGUFHeader) -> None:
    """Every token of the vocabulary must be different: llama.cpp maps text to tokens and asserts that
    the map is as long as the list, so one repeated token (two bytes changed in a 500 MB file) aborts
    the process that loads it instead of raising an error."""
    field = next((f for f in h.fields if f.key == "tokenizer.ggml.tokens"), None)
    if field is None or field.array_type != ValueType.STRING or not field.count:
        return
    try:
        with open(h.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            pos = field.start + 8 + len(field.key.encode("utf-8")) + 4 + 4 + 8  # key, types, count
            seen: set[bytes] = set()
            unpack = _U64.unpack_from
            for index in range(field.count):
                n = unpack(mm, pos)[0]
                token = mm[pos + 8:pos + 8 + n]
                if token in seen:
                    text = token.decode("utf-8", errors="replace")
                    raise GGUFError(f"{h.path.name} is damaged: its vocabulary holds the token {text!r} "
                                    f"twice (again as token {index})", h.path)
                seen.add(token)
                pos += 8 + n
    except (struct.error, OSError, ValueError) as exc:  # changed on disk since its header was read
        raise GGUFError(f"cannot read {h.path}: {exc}", h.path) from None


def preflight(path: Path | str) -> GGUFInfo:
    """Checks a model file before llama.cpp sees it and returns what the UI wants to show."""
    h = read_header(path)
    _check_vocabulary(h)
    metadata = {f.key: f.value for f in h.fields}
    arch = metadata.get("general.architecture")
    arch = arch if isinstance(arch, str) else None
    name = metadata.get("general.name")
    template = metadata.get("tokenizer.chat_template")
    ctx = metadata.get(f"{arch}.context_length") if arch else None
    info = GGUFInfo(
        path=h.path, version=h.version, tensor_count=len(h.tensors), metadata=metadata,
        architecture=arch, name=name if isinstance(name, str) else None,
        context_length=ctx if isinstance(ctx, int) and not isinstance(ctx, bool) else None,
        chat_template=template if isinstance(template, str) else None,
        file_size=h.file_size, data_offset=h.data_offset, alignment=h.alignment)
    log.debug("preflight ok: %s (%s, %d tensors)", h.path, arch, len(h.tensors))
    return info
