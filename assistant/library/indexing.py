"""Embedding the library's unindexed images: those shared before a CLIP model was installed.

One loop for both callers: `assistant search-images --reindex` (this process, progress on stderr) and
the window's background indexing (the engine process, `assistant.host.indexing`, progress as events).
Images go in small batches; after each, `after_batch` says whether to go on, so the engine can honour
Cancel and step aside for a chat question that arrived meanwhile (the caller asks again later).

Each kept copy is decoded by the safe decoder (the copies are ours, but a file in the data folder can
be damaged or replaced like any other). A copy that is missing or unreadable is skipped with a warning
and stays unindexed; one bad file never costs the others their index. The encoder's own failure (a
broken CLIP model) propagates: the caller says so, and nothing already indexed is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from assistant.images.errors import ImageError

if TYPE_CHECKING:
    from assistant.library.image_library import ImageLibrary
    from assistant.protocols import ClipEncoder

logger = logging.getLogger(__name__)

BATCH_SIZE = 8  # ~0.5 s with ViT-B-32 on two cores: what a chat question may wait behind at most
DECODE_MAX_SIDE = 1024  # CLIP sees 224 px; a smaller decode is cheaper and ranks the same


@dataclass
class IndexReport:
    """Where a run stands: `total` images were unindexed when it started."""

    total: int = 0
    indexed: int = 0
    skipped: int = 0  # kept copies missing or unreadable: they stay unindexed

    @property
    def remaining(self) -> int:
        return self.total - self.indexed - self.skipped


def index_unindexed(
    library: ImageLibrary,
    encoder: ClipEncoder,
    *,
    batch_size: int = BATCH_SIZE,
    after_batch: Callable[[IndexReport], bool] = lambda _report: True,
) -> IndexReport:
    """Embeds the images that have no vector for `encoder`'s model; returns what was done.

    `after_batch` runs after every batch (and once before the first, with nothing done yet, so a
    caller can show the total); False stops the run there, with the rest left for a later one.
    """
    from assistant.images.safe_image import open_image  # Pillow: only when there is work

    model = encoder.fingerprint
    missing = library.unindexed(model)
    report = IndexReport(total=len(missing))
    if not missing or not after_batch(report):
        return report
    for start in range(0, len(missing), max(1, batch_size)):
        chunk, images = [], []
        for digest in missing[start:start + batch_size]:
            try:
                images.append(open_image(library.path(digest), max_side=DECODE_MAX_SIDE).image)
                chunk.append(digest)
            except (ImageError, KeyError, OSError) as error:  # gone or damaged: the rest go on
                logger.warning("Image %s not indexed: %s", digest[:12], error)
                report.skipped += 1
        if chunk:
            vectors = np.asarray(encoder.embed_images(images), dtype=np.float32)
            library.set_embeddings(chunk, vectors, model)
            report.indexed += len(chunk)
        if report.remaining and not after_batch(report):
            break
    logger.info("Indexed %d of %d images for %s (%d skipped)", report.indexed, report.total, model,
                report.skipped)
    return report
