"""A hub repository's GGUF files as the user thinks of them: one row per model, with its quantization.

Pure functions over the hub's file listing (path, size, LFS sha256); nothing here connects. What the
listing is turned into:

- a GGUF split into shards (llama.cpp's ``NAME-00001-of-00003.gguf`` naming) is one logical file
  whose size is the sum of its parts; a set with a part missing is kept but marked incomplete;
- the quantization is read from the file name (``Q4_K_M``, ``Q8_0``, ``IQ4_XS``, ``F16``, ``BF16``,
  ``UD-Q4_K_XL``…; the last one in the name wins, since repositories put it at the end);
- projectors (``mmproj`` in the name: the listing has no metadata to go by) are rows of their own, and
  ``projector_for`` picks the one that comes along with a model of a vision repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.models.vision_match import EXACT_NAME, NEUTRAL_NAME, PARTIAL_NAME, name_match, name_tokens

_QUANT = re.compile(
    r"(?<![a-z0-9])(?:ud-)?(?:"
    r"iq[1-4]_(?:xxs|xs|nl|s|m)"
    r"|q[2-8]_k(?:_(?:xl|l|m|s))?"
    r"|q[4-8]_[01](?:_[48]_[48])?"
    r"|tq[12]_0|mxfp4|bf16|fp16|f16|fp32|f32"
    r")(?![a-z0-9])",
    re.IGNORECASE,
)
_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
# Projector precision preferred when a repository offers several: f16 is what llama.cpp's converters
# write by default and every CPU build runs; bf16 and f32 are larger or slower for no gain in answers.
_PROJECTOR_PREFERENCE = ("F16", "BF16", "Q8_0", "F32")


@dataclass(frozen=True)
class RemoteFile:
    """One file of the listing: its path in the repository, size and LFS sha256 (None when the file is
    not in LFS, which the hub does for small files only)."""

    path: str
    size: int
    sha256: str | None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LogicalFile:
    """A model as one row: a single GGUF, or every shard of a split one, in order."""

    parts: tuple[RemoteFile, ...]
    quant: str | None
    is_projector: bool
    shard_count: int = 1  # what the names say the set should have

    @property
    def path(self) -> str:
        """The first part's path: what llama.cpp opens, and what ``assistant models download`` takes."""
        return self.parts[0].path

    @property
    def name(self) -> str:
        return self.parts[0].name

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.shard_count

    @property
    def title(self) -> str:
        """The name as listed: a split model says how many parts it has."""
        if self.shard_count == 1:
            return self.name
        have = "" if self.complete else f", only {len(self.parts)} on the hub"
        return f"{self.name} ({self.shard_count} parts{have})"

    @property
    def stem(self) -> str:
        """The name without ``.gguf`` and without a shard suffix."""
        match = _SHARD.match(self.name)
        return match.group("stem") if match else self.name.removesuffix(".gguf").removesuffix(".GGUF")

    def contains(self, path: str) -> bool:
        return any(p.path == path or p.name == path for p in self.parts)


def quant_of(name: str) -> str | None:
    """The quantization a file name states (upper case), or None: ``…-q4_k_m.gguf`` → ``Q4_K_M``."""
    base = name.rsplit("/", 1)[-1]
    found = _QUANT.findall(base)
    return found[-1].upper() if found else None


def shard_of(name: str) -> tuple[str, int, int] | None:
    """(stem, index, count) of a shard named the way llama.cpp's gguf-split names them, else None."""
    match = _SHARD.match(name.rsplit("/", 1)[-1])
    if not match:
        return None
    index, count = int(match.group("index")), int(match.group("count"))
    return (match.group("stem"), index, count) if 1 <= index <= count else None


def split_parts(path: Path) -> list[Path]:
    """Every part of the split model whose part ``path`` is (in order), or just ``path``."""
    shard = shard_of(path.name)
    if shard is None:
        return [path]
    stem, _index, count = shard
    return [path.with_name(f"{stem}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]


def is_projector_name(name: str) -> bool:
    return "mmproj" in name.rsplit("/", 1)[-1].lower()


def group_files(files: Iterable[RemoteFile]) -> list[LogicalFile]:
    """The GGUF files of a listing as logical files: models first, smallest first; projectors last."""
    singles: list[LogicalFile] = []
    sets: dict[tuple[str, str, int], list[tuple[int, RemoteFile]]] = {}
    for file in files:
        if not file.path.lower().endswith(".gguf"):
            continue
        shard = shard_of(file.name)
        if shard is None:
            singles.append(LogicalFile((file,), quant_of(file.name), is_projector_name(file.name)))
            continue
        stem, index, count = shard
        folder = file.path.rsplit("/", 1)[0] if "/" in file.path else ""
        sets.setdefault((folder, stem, count), []).append((index, file))
    for (_folder, stem, count), members in sets.items():
        parts = tuple(f for _i, f in sorted({i: f for i, f in members}.items()))
        singles.append(LogicalFile(parts, quant_of(stem), is_projector_name(stem), count))
    return sorted(singles, key=lambda f: (f.is_projector, f.size, f.path))


def find_file(files: Sequence[LogicalFile], wanted: str) -> LogicalFile | None:
    """The logical file a user named: any part's path or file name (a shard names its whole set)."""
    wanted = wanted.strip()
    return next((f for f in files if f.contains(wanted)), None)


def model_base(model: LogicalFile) -> str:
    """The name without quantization and shard suffix: ``gemma-3-4b-it-Q4_K_M`` → ``gemma-3-4b-it``."""
    stem = model.stem
    matches = list(_QUANT.finditer(stem))
    if matches:
        last = matches[-1]
        stem = (stem[:last.start()] + stem[last.end():]).strip("-_. ")
    return stem or model.stem


def projector_for(model: LogicalFile, files: Sequence[LogicalFile]) -> LogicalFile | None:
    """The projector that comes with ``model`` from the same repository, or None (a text model, or a
    projector itself). Inside one repository the best name match wins (the same model, then a name that
    contains the other, then a generic ``mmproj-F16``; a projector named after another model only when
    nothing better is there), ties going to f16, then bf16, q8_0, f32."""
    if model.is_projector:
        return None
    candidates = [f for f in files if f.is_projector and f.complete]
    if not candidates:
        return None

    def rank(projector: LogicalFile) -> tuple[int, int, int]:
        score = name_match(model.stem, projector.stem)
        order = {EXACT_NAME: 0, PARTIAL_NAME: 1, NEUTRAL_NAME: 2}.get(score, 3)
        quant = projector.quant or ""
        precision = _PROJECTOR_PREFERENCE.index(quant) if quant in _PROJECTOR_PREFERENCE else 9
        return order, precision, projector.size

    return min(candidates, key=rank)


def projector_save_name(model: LogicalFile, projector: LogicalFile) -> str:
    """The name the projector gets in the models folder. Repositories often call it just
    ``mmproj-F16.gguf`` or ``mmproj-model-f16.gguf``: in one folder holding many downloads such a name
    would clash with the next vision model's, and pairing could only guess. A generic name is therefore
    saved as ``mmproj-<model>-<quant>.gguf``, which pairs with its model by name; a projector that
    already names its model keeps its own name."""
    if name_tokens(projector.stem):
        return projector.name
    return f"mmproj-{model_base(model)}-{projector.quant or 'F16'}.gguf"


__all__ = ["LogicalFile", "RemoteFile", "find_file", "group_files", "is_projector_name", "model_base",
           "projector_for", "projector_save_name", "quant_of", "shard_of", "split_parts"]
