"""Content hashes: the image library keys images by what they contain, not by their path or name."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def content_hash(data: bytes | memoryview) -> str:
    """sha256 of the bytes as lower-case hex (the same file dropped twice is stored once)."""
    return hashlib.sha256(data).hexdigest()


def file_hash(path: str | Path) -> str:
    """sha256 of a file, read in 1 MiB chunks so a big file never sits in memory whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
