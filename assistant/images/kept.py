"""Every image the user shares is kept in the data folder, named by the sha256 of the file they gave.

So a question's thumbnail still shows after the original file was moved, renamed or deleted, and the
same screenshot shared twice is stored once. What is kept is the *decoded* image re-encoded by us
(longest side at most `STORAGE_MAX_SIDE`), never the user's bytes: metadata such as a photo's GPS
position is not copied, and whatever a hostile file hid outside its pixels stays outside the library.

Layout under ``<data_dir>/images/``::

    ab/abcdef…(64 hex).png   the image: PNG, or JPEG (quality 90) when the original was a JPEG photo
    thumbs/abcdef….png       a small PNG thumbnail (longest side THUMBNAIL_SIDE) for chips and bubbles

Files are written to a temporary name and renamed, so a crash never leaves half an image under a hash.
Plain Python and Pillow: the engine process writes here, the window only reads (and finds the files
without importing Pillow, which would cost its start-up 75 ms).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from assistant.images.safe_image import DecodedImage

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 256  # chips show 48-64 px; 256 stays sharp on a 4x display and in the preview's list
JPEG_QUALITY = 90
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXTENSIONS = (".png", ".jpg")


@dataclass(frozen=True)
class KeptImage:
    sha256: str
    path: Path  # the kept copy
    thumbnail: Path


def images_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "images"


def is_sha256(text: str) -> bool:
    """A hash read back from the history is checked before it becomes part of a path."""
    return bool(_SHA256.match(text))


def kept_path(sha256: str, data_dir: Path) -> Path | None:
    """The kept copy of the image with this hash, or None when there is none (or the hash is not one)."""
    if not is_sha256(sha256):
        return None
    folder = images_dir(data_dir) / sha256[:2]
    for extension in _EXTENSIONS:
        candidate = folder / f"{sha256}{extension}"
        if candidate.is_file():
            return candidate
    return None


def thumbnail_path(sha256: str, data_dir: Path) -> Path | None:
    """The kept thumbnail of the image with this hash, or None."""
    if not is_sha256(sha256):
        return None
    candidate = images_dir(data_dir) / "thumbs" / f"{sha256}.png"
    return candidate if candidate.is_file() else None


def keep(decoded: DecodedImage, data_dir: Path) -> KeptImage:
    """Store `decoded` (and its thumbnail) under its hash unless it is there already. Raises OSError."""
    from assistant.images.safe_image import STORAGE_MAX_SIDE, fit_within

    sha = decoded.sha256
    if not is_sha256(sha):
        raise ValueError(f"not a sha256 hex digest: {sha!r}")
    root = images_dir(data_dir)
    image = fit_within(decoded.image, STORAGE_MAX_SIDE)
    path = kept_path(sha, data_dir)
    if path is None:
        jpeg = decoded.format == "JPEG"  # a photo stays a photo: PNG would make it 5-10x larger
        path = root / sha[:2] / f"{sha}{'.jpg' if jpeg else '.png'}"
        _write(path, image, "JPEG" if jpeg else "PNG")
        logger.info("Kept image %s (%d x %d)", path, image.width, image.height)
    thumbnail = thumbnail_path(sha, data_dir)
    if thumbnail is None:
        thumbnail = root / "thumbs" / f"{sha}.png"
        _write(thumbnail, fit_within(image, THUMBNAIL_SIDE), "PNG")
    return KeptImage(sha, path, thumbnail)


def _write(path: Path, image: Image.Image, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as file:
            if fmt == "JPEG":
                image.save(file, "JPEG", quality=JPEG_QUALITY, optimize=True)
            else:
                image.save(file, "PNG", compress_level=6)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
