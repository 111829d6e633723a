"""`assistant search-images TEXT`: the image library searched by text, best match first.

Runs the CLIP text tower in this process: one short text, no model that could hang or crash worth
isolating, and the command ends right after. `--reindex` embeds the images shared before the CLIP model
was installed (`assistant.library.indexing`), here too, with progress on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from assistant import settings
from assistant.history.types import StoreError
from assistant.library.image_library import ImageHit, ImageLibrary
from assistant.library.indexing import IndexReport, index_unindexed
from assistant.models.catalog import ModelError


def format_hit(rank: int, hit: ImageHit) -> str:
    where = ", ".join(f"conversation {u.conversation_id} message {u.message_id}" for u in hit.uses[:3])
    more = f" (+{len(hit.uses) - 3} more)" if len(hit.uses) > 3 else ""
    return f"{rank:>2}. {hit.score:+.3f}  {hit.path}  {where or 'no conversation'}{more}"


def search_images_command(text: str, *, model: str | None = None, k: int = 10,
                          similar: str | None = None, data_dir: Path | None = None) -> int:
    """Prints up to `k` hits, one per line; exit 0 (also when nothing matches), 1 on errors, 2 on misuse."""
    if not text.strip() and not similar:
        print("error: give the text to search for (or --similar IMAGE)", file=sys.stderr)
        return 2
    from assistant.clip.folder import find_model
    from assistant.engines.clip_onnx import ClipModel

    data_dir = data_dir or settings.data_dir()
    try:
        clip = ClipModel.load(find_model(model, data_dir))
        with ImageLibrary(data_dir, clip) as library:
            hits = library.similar(_hash_of(similar, library), k) if similar else library.search_text(text, k)
            if not hits:
                unindexed = len(library.unindexed())
                print("no images in the library" + (f" ({unindexed} not indexed with {clip.name})"
                                                     if unindexed else ""), file=sys.stderr)
    except (ModelError, StoreError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for rank, hit in enumerate(hits, 1):
        print(format_hit(rank, hit))
    return 0


def reindex_command(*, model: str | None = None, data_dir: Path | None = None) -> int:
    """Embeds every unindexed kept image with the installed CLIP model; exit 0, or 1 with the reason."""
    from assistant.clip.folder import find_model
    from assistant.engines.clip_onnx import ClipModel

    data_dir = data_dir or settings.data_dir()
    if not (data_dir / "image_library").is_dir():  # nothing shared yet: do not create an empty library
        print("no images in the library yet: nothing to index", file=sys.stderr)
        return 0

    def progress(report: IndexReport) -> bool:
        done = report.indexed + report.skipped
        print(f"indexing images: {done}/{report.total}", file=sys.stderr, flush=True)
        return True

    try:
        clip = ClipModel.load(find_model(model, data_dir))
        with ImageLibrary(data_dir, clip) as library:
            report = index_unindexed(library, clip, after_batch=progress)
    except (ModelError, StoreError) as exc:  # a damaged tower names its file; what is indexed stays
        print(f"error: {exc}", file=sys.stderr)
        return 1
    skipped = (f", {report.skipped} skipped (their kept copies are missing or damaged)"
               if report.skipped else "")
    print(f"indexed {report.indexed} of {report.total} images with {clip.name}{skipped}", file=sys.stderr)
    return 0


def _hash_of(reference: str, library: ImageLibrary) -> str:
    """A stored image's sha256 from its hash, a unique hash prefix, or an image file's content."""
    path = Path(reference).expanduser()
    if path.is_file():
        import hashlib

        return hashlib.sha256(path.read_bytes()).hexdigest()
    return library.resolve(reference)
