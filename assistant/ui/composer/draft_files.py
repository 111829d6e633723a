"""What a draft leaves on disk goes with it: a pasted or captured image, and the copy its early read kept.

A pasted or captured image is handed to the engine as a PNG in the data folder's `cache/pasted/`
(`pasted_images`), and reading it as soon as it is attached keeps a copy under `images/` by its hash
(`images.kept`). Both exist only for the question being written. So when the draft lets go of an image
(its chip removed, the window closed with the draft unsent) the hand-over file is deleted, and the kept
copy too unless something else shows it: a stored message (`Store.image_hashes`), the image library,
or a chip still in the composer. After a question is sent its hand-over files are deleted as well (the
engine kept its own copy, which the stored question now refers to). Files a crash left in
`cache/pasted/` are swept at the next start the same way.

When the history cannot be read (or there is none), no kept copy is deleted: a leftover file is
harmless, a question that lost its image is not. A hand-over file is named by the first 16 hex digits
of its sha256, and the kept copy by the whole sha256 of the same bytes, so a hand-over file says which
kept copy it made.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.history.types import StoreError
from assistant.images.kept import is_sha256
from assistant.library.cleanup import delete_kept
from assistant.ui.composer.pasted_images import pasted_dir

if TYPE_CHECKING:
    from assistant.history.store import Store

logger = logging.getLogger(__name__)


def is_handover(path: str | Path, folder: Path | None = None) -> bool:
    """True for a file this app wrote for the draft (a pasted or captured image)."""
    folder = folder if folder is not None else pasted_dir()
    candidate = Path(path)
    return candidate.parent == folder and candidate.suffix == ".png" and not candidate.name.startswith(".")


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class DraftFiles:
    """Deletes what a draft no longer needs; `store` None: the history is unavailable (keep copies)."""

    def __init__(self, data_dir: Path, store: Store | None, folder: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.store = store
        self._folder = folder

    @property
    def folder(self) -> Path:
        return self._folder if self._folder is not None else pasted_dir()

    def release(
        self, paths: Iterable[str], read: Iterable[str] = (), keep: Collection[str] = ()
    ) -> list[str]:
        """The draft let go of `paths` (and of the kept copies `read`, by hash, their early reads made):
        deletes the hand-over files among them and the kept copies nothing else shows (`keep`: hashes
        still attached). Returns the hashes of the kept copies deleted."""
        hashes = {digest for digest in read if is_sha256(digest)}
        for path in paths:
            if not is_handover(path, self.folder):
                continue
            digest = file_sha256(Path(path))
            if digest is not None:
                hashes.add(digest)
            try:
                Path(path).unlink(missing_ok=True)
            except OSError as error:
                logger.warning("Could not delete the draft's image %s: %s", path, error)
        return self.forget_kept(hashes, keep)

    def forget_kept(self, hashes: Collection[str], keep: Collection[str] = ()) -> list[str]:
        """Deletes the kept copies among `hashes` that no stored message, library use or `keep` shows."""
        candidates = set(hashes) - set(keep)
        if not candidates or self.store is None:
            return []
        try:
            referenced = self.store.image_hashes()
            if (self.data_dir / "image_library").is_dir():  # never create a library just to ask it
                from assistant.library.image_library import ImageLibrary  # numpy: only when there is one

                with ImageLibrary(self.data_dir) as library:
                    referenced |= library.in_use(sorted(candidates))
        except (StoreError, OSError) as error:
            logger.warning("The draft's kept images stay on disk: %s", error)
            return []
        deleted = [digest for digest in sorted(candidates - referenced) if delete_kept(digest, self.data_dir)]
        if deleted:
            logger.info("Deleted %d kept copies of images the draft let go of", len(deleted))
        return deleted

    def sweep(self, keep: Collection[str] = ()) -> int:
        """At start-up: hand-over files a crash left behind, and their kept copies. Returns how many."""
        try:
            found = [str(p) for p in self.folder.iterdir() if is_handover(p, self.folder)]
            leftovers = [path for path in found if path not in keep]
        except OSError:
            return 0  # no folder: nothing was ever pasted
        if leftovers:
            self.release(leftovers)
            logger.info("Removed %d images left by an unsent draft", len(leftovers))
        return len(leftovers)
