"""Image data pasted from the clipboard (or dragged from another app) becomes a PNG file to attach.

An attachment is a file, and the engine process reads files, so pasted pixels are written as a PNG in
the data folder's cache first, named by the hash of that PNG: pasting the same screenshot twice gives
the same file, attached once. Screen captures and camera photos take the same way, under their own
prefix (`screenshot-`, `photo-`). The engine keeps its own copy when the question is asked, so these
files are only a hand-over: `draft_files` deletes them once the draft no longer needs them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData
from PySide6.QtGui import QImage, QPixmap

from assistant import settings as settings_module

# What the engine's safe decoder accepts (images.safe_image.ImageLimits.max_decoded_pixels): a bigger
# paste would be written only to be refused.
MAX_PIXELS = 50_000_000


class PasteRefused(Exception):
    """str() is the message for the user."""


def mime_image(mime: QMimeData) -> QImage:
    """The picture a clipboard or drag carries (some platforms hand over a QPixmap, most a QImage)."""
    data = mime.imageData()
    if isinstance(data, QPixmap):
        return data.toImage()
    return QImage(data) if isinstance(data, QImage) else QImage()


def pasted_dir() -> Path:
    return settings_module.data_dir() / "cache" / "pasted"


def save_pasted(image: QImage, folder: Path | None = None, prefix: str = "pasted") -> Path:
    """Write `image` as PNG (atomically) and return its path; raises PasteRefused with the reason.
    `prefix` names where it came from: "pasted", "screenshot" or "photo"."""
    what = "pasted image" if prefix == "pasted" else prefix
    if image.isNull() or image.width() <= 0 or image.height() <= 0:
        source = "the clipboard held" if prefix == "pasted" else "it held"
        raise PasteRefused(f"Cannot attach the {what}: {source} no picture Qt could read.")
    if image.width() * image.height() > MAX_PIXELS:
        raise PasteRefused(
            f"Cannot attach the {what}: it is {image.width()} x {image.height()} pixels; up to "
            f"{MAX_PIXELS / 1e6:.0f} megapixels are accepted. Scale it down and paste it again."
        )
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise PasteRefused(f"Cannot attach the {what}: it could not be converted to PNG.")
    png = bytes(data.data())
    folder = folder if folder is not None else pasted_dir()
    path = folder / f"{prefix}-{hashlib.sha256(png).hexdigest()[:16]}.png"
    if path.is_file():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".png")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(png)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise PasteRefused(
            f"Cannot attach the {what}: it could not be saved in {folder} "
            f"({error.strerror or error}). Free some disk space and try again."
        ) from error
    return path
