"""Deleting a conversation deletes its kept images only when no remaining message shows them.

A real history file (`Store`), real kept copies written by `images.kept`, a real image library.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from assistant.history.store import Store
from assistant.images.kept import keep, kept_path, thumbnail_path
from assistant.images.safe_image import decode_image
from assistant.library.cleanup import forget_conversation_images
from assistant.library.image_library import ImageLibrary
from assistant.library.match import STRENGTH_DOTS, match_strengths
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 14), colour).save(buffer, "PNG")
    return buffer.getvalue()


def share(store: Store, library: ImageLibrary, conversation: int, image: bytes, *,
          in_library: bool = True) -> str:
    """A question with the image, as the window stores it: the grounding names the kept copy, and the
    library records the use (unless its write failed: `in_library=False` keeps the copy only)."""
    digest = hashlib.sha256(image).hexdigest()
    message = store.add_message(conversation, "user", "What is this?", groundings=[
        Grounding("image", "picture.png", "", image=digest)])
    if in_library:
        assert library.add(image, conversation, message) == digest
    else:
        keep(decode_image(image), library.data_dir)
    return digest


def files_of(digest: str, data: Path) -> tuple[Path | None, Path | None]:
    return kept_path(digest, data), thumbnail_path(digest, data)


def delete(store: Store, data: Path, conversation: int, keep: set[str] | None = None) -> list[str]:
    shown = store.image_hashes(conversation)
    store.delete_conversation(conversation)
    return forget_conversation_images(store, data, conversation, shown, keep or set())


def test_a_file_another_conversation_shows_stays_and_the_last_use_deletes_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "history.sqlite3")
    library = ImageLibrary(data)
    first, second = store.create_conversation("first"), store.create_conversation("second")
    shared = share(store, library, first, png((200, 0, 0)))
    assert share(store, library, second, png((200, 0, 0))) == shared
    only_first = share(store, library, first, png((0, 0, 200)))
    assert all(files_of(shared, data)) and all(files_of(only_first, data))

    assert delete(store, data, first) == [only_first]
    assert files_of(only_first, data) == (None, None)  # the copy and its thumbnail are gone
    assert all(files_of(shared, data))  # the second conversation still shows it
    assert store.image_hashes() == {shared}
    assert len(library) == 1 and library.in_use([shared]) == {shared}

    assert delete(store, data, second) == [shared]
    assert files_of(shared, data) == (None, None)
    assert store.image_hashes() == set() and len(library) == 0
    store.close()
    library.close()


def test_a_reference_in_the_history_alone_or_in_the_draft_keeps_the_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "history.sqlite3")
    library = ImageLibrary(data)
    first, second = store.create_conversation("first"), store.create_conversation("second")
    shared = share(store, library, first, png((0, 120, 0)))
    # The second chat shows it through a pasted attachment named by its hash, with no library use.
    store.add_message(second, "user", "again", attachments=[
        Attachment("image", str(tmp_path / "cache" / "pasted" / f"{shared}.png"), "pasted.png", 10)])
    drafted = share(store, library, first, png((0, 0, 90)))
    history_only = share(store, library, first, png((90, 90, 0)), in_library=False)
    other = share(store, library, second, png((90, 90, 0)), in_library=False)
    assert other == history_only

    assert delete(store, data, first, keep={drafted}) == []
    for digest in (shared, drafted, history_only):
        assert all(files_of(digest, data)), digest
    store.close()
    library.close()


def test_without_a_history_nothing_is_deleted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ImageLibrary(data) as library:
        digest = library.add(png((1, 2, 3)), 4, 40)
    assert forget_conversation_images(None, data, 4, {digest}) == []
    assert all(files_of(digest, data))  # the other chats' references are unknown: the file stays
    with ImageLibrary(data) as library:
        assert len(library) == 0  # but the library forgot the conversation, as before


def test_match_strength_is_relative_to_the_results_shown() -> None:
    assert match_strengths([]) == []
    assert match_strengths([0.31]) == [STRENGTH_DOTS]
    assert match_strengths([0.30, 0.30, 0.30]) == [STRENGTH_DOTS] * 3
    assert match_strengths([0.40, 0.35, 0.10]) == [4, 3, 1]
    assert match_strengths([0.9, 0.6, 0.5, 0.0]) == [4, 3, 3, 1]
