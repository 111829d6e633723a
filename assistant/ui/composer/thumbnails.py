"""Small pictures of attached images for chips, bubbles and the preview, decoded off the GUI thread.

The window must not trust an image file any more than the engine does, so it decodes them through the
same safe decoder (`images.safe_image`: content allow-list, pixel limits from the header, reduced-scale
JPEG decode) and never through OpenCV (importing cv2 re-points Qt's plugin path) or Qt's own plugins.
Decoding a 40-megapixel photo still takes a moment, so it runs on one worker thread and the result
comes back as a signal, queued to the GUI thread. A QImage (not a QPixmap) is made on the worker: QImage
is safe to create on any thread.

Images of sent questions are shown from the copy the engine kept under the file's hash
(`images.kept`), so they survive the original being moved or deleted.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtGui import QImage

from assistant import settings as settings_module
from assistant.images import kept
from assistant.images.errors import ImageError
from assistant.prompt.attachments import Attachment

logger = logging.getLogger(__name__)

CACHE_SIZE = 64  # decoded thumbnails kept in memory: a long conversation scrolls without re-decoding


@dataclass(frozen=True)
class ImageFiles:
    """Where an attached image can be read from: a small file for the chip, the full one for preview."""

    thumbnail: Path | None
    full: Path | None


def image_files(attachment: Attachment, sha256: str = "", data_dir: Path | None = None) -> ImageFiles:
    """The kept copy when the engine made one (sent questions), else the file the user attached."""
    folder = data_dir if data_dir is not None else settings_module.data_dir()
    thumbnail = kept.thumbnail_path(sha256, folder) if sha256 else None
    full = kept.kept_path(sha256, folder) if sha256 else None
    original = Path(attachment.path)
    if full is None and original.is_file():
        full = original
    return ImageFiles(thumbnail or full, full)


def decode(path: Path, side: int) -> QImage:
    """`path` as a QImage at most `side` pixels on its longest side; raises ImageError."""
    from assistant.images.safe_image import open_image  # Pillow: loaded with the first image shown

    picture = open_image(path, max_side=side).image  # RGB, upright, shrunk
    data = picture.tobytes()
    image = QImage(data, picture.width, picture.height, 3 * picture.width, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: `data` is freed when this function returns


class ThumbnailLoader(QObject):
    """Decodes images on one worker thread; `loaded` or `failed` arrive on the GUI thread."""

    loaded = Signal(str, QImage)  # key, image
    failed = Signal(str, str)  # key, message for the user

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._pending: set[str] = set()
        # Connected first, so the cache is up to date when a chip's own slot runs.
        self.loaded.connect(self._remember)
        self.failed.connect(self._forget)

    @staticmethod
    def key(path: Path, side: int) -> str:
        return f"{side}:{path}"

    def cached(self, path: Path, side: int) -> QImage | None:
        image = self._cache.get(self.key(path, side))
        if image is not None:
            self._cache.move_to_end(self.key(path, side))
        return image

    def request(self, path: Path, side: int) -> str:
        """Start decoding unless it is cached or under way; connect to the signals and filter by key."""
        key = self.key(path, side)
        if key not in self._cache and key not in self._pending:
            self._pending.add(key)
            self._pool.submit(self._work, key, path, side)
        return key

    def _work(self, key: str, path: Path, side: int) -> None:
        """Runs on the worker thread; the signals cross to the GUI thread (queued connections)."""
        try:
            image = decode(path, side)
        except ImageError as error:
            self.failed.emit(key, str(error))
        except Exception as error:  # a decoder bug must cost one thumbnail, not the window
            logger.warning("Thumbnail of %s failed", path, exc_info=True)
            self.failed.emit(key, f"Cannot show {path.name}: {error}")
        else:
            self.loaded.emit(key, image)

    def _remember(self, key: str, image: QImage) -> None:
        self._pending.discard(key)
        self._cache[key] = image
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _forget(self, key: str, _message: str) -> None:
        self._pending.discard(key)  # asked again later (the file may have been fixed), decoded again


_loader: ThumbnailLoader | None = None


def loader() -> ThumbnailLoader:
    """The application's one loader (made on first use; it lives as long as the QApplication)."""
    global _loader
    if _loader is None:
        _loader = ThumbnailLoader(QCoreApplication.instance())
    return _loader
