"""An append-only float32 matrix on disk, searched through a memory map.

One file per CLIP model (embeddings of different models are not comparable): raw little-endian
float32, ``dim`` values per row, no header, so appending is one ``write`` at the end and reading is a
``numpy.memmap`` with no copy. Which row belongs to which image is recorded in SQLite
(``assistant.library.store``); the writer appends the row, fsyncs, then commits the row's record,
so after a crash the file can only hold rows the database does not know, which `truncate` drops.

Float32 rather than float16: numpy has no fast float16 matrix product (a float16 scan of 100,000 rows is
~20× slower than float32 through BLAS), and a 512-dimensional row is 2 KB, small next to the image.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DTYPE = np.dtype("<f4")


class VectorFile:
    """Rows of one model's embeddings; see the module docstring for the crash-safety argument."""

    def __init__(self, path: Path, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dim must be positive, not {dim}")
        self.path = Path(path)
        self.dim = dim
        self._row_bytes = dim * DTYPE.itemsize
        self._map: np.ndarray | None = None
        self._mapped_rows = -1

    def __len__(self) -> int:
        try:
            return self.path.stat().st_size // self._row_bytes
        except FileNotFoundError:
            return 0

    def append(self, rows: np.ndarray) -> range:
        """Writes `rows` (n, dim) at the end and fsyncs; returns their row numbers."""
        rows = np.ascontiguousarray(np.atleast_2d(rows), dtype=DTYPE)
        if rows.shape[1] != self.dim:
            raise ValueError(f"rows have {rows.shape[1]} values, this file holds {self.dim}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            start = handle.tell()
            if start % self._row_bytes:  # a torn write from a crash: cut it before appending
                start -= start % self._row_bytes
                handle.truncate(start)
                handle.seek(start)
            handle.write(rows.tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        first = start // self._row_bytes
        return range(first, first + len(rows))

    def matrix(self) -> np.ndarray:
        """A read-only (rows, dim) view of the file; remapped only when the file has grown or shrunk."""
        count = len(self)
        if count != self._mapped_rows:
            self._map = (np.memmap(self.path, dtype=DTYPE, mode="r", shape=(count, self.dim))
                         if count else np.zeros((0, self.dim), DTYPE))
            self._mapped_rows = count
        assert self._map is not None
        return self._map

    def rows(self, numbers: Iterable[int]) -> np.ndarray:
        return np.asarray(self.matrix()[list(numbers)], dtype=np.float32)

    def zero(self, numbers: Iterable[int]) -> None:
        """Overwrites rows with zeros: a forgotten image leaves no trace of its embedding on disk."""
        numbers = sorted(set(numbers))
        if not numbers:
            return
        blank = bytes(self._row_bytes)
        with self.path.open("r+b") as handle:
            for number in numbers:
                handle.seek(number * self._row_bytes)
                handle.write(blank)
            handle.flush()
            os.fsync(handle.fileno())

    def truncate(self, count: int) -> None:
        """Keeps the first `count` rows (drops rows a crash left without a database record)."""
        if len(self) > count or (self.path.exists() and self.path.stat().st_size % self._row_bytes):
            log.warning("dropping %d unrecorded embedding rows from %s", len(self) - count, self.path)
            self._map, self._mapped_rows = None, -1  # unmap before shrinking the file under it
            with self.path.open("r+b") as handle:
                handle.truncate(count * self._row_bytes)

    def delete(self) -> None:
        self._map, self._mapped_rows = None, -1
        self.path.unlink(missing_ok=True)
