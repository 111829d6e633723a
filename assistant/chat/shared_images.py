"""Recording the images of a question in the image library, once the question is stored.

The engine reports each image it read in an ImagePerceived (its hash, size and CLIP embedding); the
conversation and message ids the library keeps with it exist only after `ChatSession.send` stored the
question. The window (`ui.attachment_questions`) and `ask` (`cli_ask`) both note the events while the
grounding job runs and call `record` after the send: one code path for both.

Without a CLIP model an image is still recorded, unindexed, so that a model installed later can index
it (`ImageLibrary.unindexed` / `reindex`). The library is a convenience beside the history: a failure
here is logged and never fails the question.
"""

from __future__ import annotations

import logging
from pathlib import Path

from assistant.history.types import StoreError
from assistant.host.messages import Event, ImagePerceived, result_of

logger = logging.getLogger(__name__)


class SharedImages:
    """The images of one question, noted from the engine's events, recorded after it is stored."""

    def __init__(self) -> None:
        self._seen: dict[str, ImagePerceived] = {}  # by hash: an image attached twice is one use

    def note(self, event: Event | ImagePerceived) -> None:
        """An engine event (a perceive request's Done carries the image), or an image read earlier."""
        found = event if isinstance(event, ImagePerceived) else result_of(event, ImagePerceived)
        if found is not None:
            self._seen[found.sha256] = found

    def __len__(self) -> int:
        return len(self._seen)

    def record(self, data_dir: Path, conversation_id: int, message_id: int) -> int:
        """Adds every noted image with where it was shared; returns how many were recorded."""
        if not self._seen:
            return 0
        # numpy loads here, not when the window or `ask` starts.
        from assistant.library.image_library import ImageLibrary

        recorded = 0
        try:
            with ImageLibrary(data_dir) as library:
                for found in self._seen.values():
                    if library.record(found.sha256, conversation_id, message_id, width=found.width,
                                      height=found.height, embedding=found.embedding,
                                      model=found.clip_model or None):
                        recorded += 1
        except (StoreError, OSError, ValueError) as error:
            logger.warning("Images of message %d not added to the image library: %s", message_id, error)
        self._seen.clear()
        return recorded
