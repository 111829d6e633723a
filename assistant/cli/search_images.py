"""`assistant search-images TEXT`: the image library searched by text, best match first.

The CLIP towers run in the engine process, as for the window's search panel: the text (or, with
`--similar FILE`, an image file) is embedded there, and this process scans the library's vectors
(milliseconds). `--reindex` has the engine embed the images shared before the CLIP model was
installed (`host/indexing.py`), with progress on stderr.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from assistant import settings
from assistant.history.types import StoreError
from assistant.host.client import EngineClient
from assistant.host.messages import (
    Done,
    EmbedTextRequest,
    Failed,
    IndexImagesRequest,
    Progress,
    Request,
    TextEmbedded,
    result_of,
)
from assistant.library.image_library import ImageHit, ImageLibrary


class SearchError(Exception):
    """The engine could not embed what to search for; str() says why and what to do."""


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
    data_dir = data_dir or settings.data_dir()
    try:
        with ImageLibrary(data_dir) as library:
            if similar:
                fingerprint = installed_fingerprint(data_dir, model)
                hits = library.similar(library_hash(similar, library), k, model=fingerprint)
            else:
                fingerprint, vector = embed_text(text, data_dir, model)
                hits = library.search_vector(vector, k, model=fingerprint)
            if not hits:
                unindexed = len(library.unindexed(fingerprint))
                later = f" ({unindexed} not indexed yet: run assistant search-images --reindex)"
                print("no images in the library" + (later if unindexed else ""), file=sys.stderr)
    except (SearchError, StoreError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for rank, hit in enumerate(hits, 1):
        print(format_hit(rank, hit))
    return 0


def embed_text(text: str, data_dir: Path, model: str | None) -> tuple[str, Any]:
    """(the CLIP model's fingerprint, the text's unit vector), from the engine process."""
    found: TextEmbedded | None = None
    for event in _stream(EmbedTextRequest(text, str(data_dir), model)):
        found = result_of(event, TextEmbedded) or found
    if found is None:
        raise SearchError("the engine did not embed the search text")
    return found.model, found.embedding


def installed_fingerprint(data_dir: Path, model: str | None) -> str:
    """Which vectors to compare: those of the named CLIP model, else of the first installed one (its
    folder's config names them; no tower is loaded here)."""
    from assistant.clip.folder import find_model, read_config
    from assistant.models.catalog import ModelError

    try:
        return read_config(find_model(model, data_dir)).fingerprint
    except ModelError as error:  # none installed, or a name no folder has: says what to do
        raise SearchError(str(error)) from error


def reindex_command(*, model: str | None = None, data_dir: Path | None = None) -> int:
    """Embeds every unindexed kept image with the installed CLIP model; exit 0, or 1 with the reason."""
    data_dir = data_dir or settings.data_dir()
    if not (data_dir / "image_library").is_dir():  # nothing shared yet: do not create an empty library
        print("no images in the library yet: nothing to index", file=sys.stderr)
        return 0
    try:
        for event in _stream(IndexImagesRequest(str(data_dir), model=model)):
            if isinstance(event, Progress) and event.total:
                print(f"indexing images: {event.done}/{event.total}", file=sys.stderr, flush=True)
            elif isinstance(event, Done):
                extra = event.stats.extra
                skipped = int(extra.get("skipped", 0))
                note = f", {skipped} skipped (their kept copies are missing or damaged)" if skipped else ""
                print(f"indexed {int(extra.get('indexed', 0))} of {int(extra.get('total', 0))} images{note}",
                      file=sys.stderr)
    except SearchError as exc:  # a damaged tower names its file; what is indexed stays
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def library_hash(reference: str, library: ImageLibrary) -> str:
    """A stored image's sha256 from its hash, a unique hash prefix, or an image file's content."""
    path = Path(reference).expanduser()
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return library.resolve(reference)


def _stream(request: Request) -> Any:
    """The request's events from a fresh engine process; a Failed becomes a SearchError."""
    with EngineClient() as engine:
        for event in engine.stream(request):
            if isinstance(event, Failed):
                raise SearchError(event.message)
            yield event
