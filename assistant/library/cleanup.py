"""Deleting a conversation's kept images once no remaining message shows them.

Every shared image is kept once, by content (`assistant.images.kept`), so the same screenshot shared in
two chats is one file. Deleting a chat must therefore delete only the files no other message still
refers to: a file is deleted when it is neither referred to by a remaining message of the history
(`Store.image_hashes`: groundings and attachments) nor shared in the image library by another
conversation (`ImageLibrary.in_use`), nor in `keep` (an image attached in the composer right now).

The order matters: this runs after the chat's rows are gone (the history first, then the library's
uses), so a failure midway leaves a file too many, never a message without its image. When the
history or the library cannot be read, nothing is deleted: a leftover file is harmless, a lost one is
not.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.history.types import StoreError
from assistant.images.kept import kept_path, thumbnail_path

if TYPE_CHECKING:
    from assistant.history.store import Store

logger = logging.getLogger(__name__)


def forget_conversation_images(
    store: Store | None,
    data_dir: Path,
    conversation_id: int,
    shown: Collection[str],
    keep: Collection[str] = (),
) -> list[str]:
    """After `conversation_id` was deleted from `store`: drops its library uses and deletes the kept
    files (and thumbnails) nothing refers to any more. `shown`: the hashes its messages showed
    (`Store.image_hashes(conversation_id)`, read before the delete). Returns the deleted hashes."""
    candidates = set(shown)
    in_library: set[str] = set()
    try:
        if (Path(data_dir) / "image_library").is_dir():  # never create a library just to empty it
            from assistant.library.image_library import ImageLibrary  # numpy: only when there is one

            with ImageLibrary(data_dir) as library:
                candidates |= set(library.forget_conversation(conversation_id))
                in_library = library.in_use(sorted(candidates))
        if not candidates:
            return []
        if store is None:  # a history kept in memory only: other chats' references are unknown
            return []
        referenced = store.image_hashes() | in_library | set(keep)
    except (StoreError, OSError) as error:
        logger.warning("Images of conversation %d kept on disk: %s", conversation_id, error)
        return []
    deleted = []
    for digest in sorted(candidates - referenced):
        if delete_kept(digest, Path(data_dir)):
            deleted.append(digest)
    if deleted:
        logger.info("Deleted %d kept images of conversation %d", len(deleted), conversation_id)
    return deleted


def delete_kept(digest: str, data_dir: Path) -> bool:
    """Deletes the kept copy and thumbnail of one image; False when a file could not be deleted."""
    ok = True
    for path in (kept_path(digest, data_dir), thumbnail_path(digest, data_dir)):
        if path is None:
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            logger.warning("Could not delete %s: %s", path, error)
            ok = False
    return ok
