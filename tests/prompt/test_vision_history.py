"""The rule for which earlier images go back to a vision model (pure functions; the real-model side
is in tests/chat/test_vision_chat.py and test_llama_vision.py)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from assistant.history.store import Store
from assistant.images import kept
from assistant.images.safe_image import decode_image
from assistant.prompt.grounding import Grounding
from assistant.prompt.vision_history import choose, in_fitted_window, most_recent


def test_most_recent_keeps_the_newest_images_oldest_first() -> None:
    shared = [(1, ("a", "b")), (3, ("c",)), (5, ("d", "e", "f"))]
    assert most_recent(shared, limit=4) == ((3, ("c",)), (5, ("d", "e", "f")))
    assert most_recent(shared, limit=2) == ((5, ("e", "f")),)
    assert most_recent(shared, limit=10) == ((1, ("a", "b")), (3, ("c",)), (5, ("d", "e", "f")))
    assert most_recent([], limit=4) == ()


def test_only_messages_left_in_the_fitted_window_keep_their_images() -> None:
    # system, u1, a1, u2, a2, u3(newest): fit_to_context dropped u1 and a1 (2 messages).
    earlier = {1: ["a"], 3: ["b"], 5: ["newest cannot be earlier"]}
    assert in_fitted_window(earlier, total=6, has_system=True, dropped=2) == {1: ["b"]}
    assert in_fitted_window(earlier, total=6, has_system=True, dropped=0) == {1: ["a"], 3: ["b"]}
    # Without a system message index 0 is the oldest question.
    no_system = {0: ["a"], 2: ["b"]}
    assert in_fitted_window(no_system, total=4, has_system=False, dropped=0) == no_system


def test_choose_newest_first_within_room_and_limit() -> None:
    costs = {"a": 4, "b": 4, "c": 4, "d": 4, "big": 100, "broken": None}
    candidates = {1: ["a", "b"], 3: ["c", "d"]}
    assert choose(candidates, costs.get, room=100, limit=3) == ({1: ["b"], 3: ["c", "d"]}, 12)
    assert choose(candidates, costs.get, room=9, limit=4) == ({3: ["c", "d"]}, 8)
    assert choose(candidates, costs.get, room=3, limit=4) == ({}, 0)
    # An unreadable image is skipped; one that does not fit stops the walk (no older image without it).
    assert choose({1: ["a"], 3: ["broken", "c"]}, costs.get, room=50, limit=4) == ({1: ["a"], 3: ["c"]}, 8)
    assert choose({1: ["a"], 3: ["big"]}, costs.get, room=50, limit=4) == ({}, 0)
    # The same image shared twice is sent twice, in the user's order.
    assert choose({1: ["a", "a"]}, costs.get, room=50, limit=4) == ({1: ["a", "a"]}, 8)


def test_stored_images_come_from_the_history_file(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 30, 30)).save(buffer, "PNG")
    image = kept.keep(decode_image(buffer.getvalue(), name="red.png"), tmp_path)
    missing = "0" * 64  # its kept copy was deleted
    red = Grounding("image", "red.png", "", image=image.sha256)
    gone = Grounding("image", "gone.png", "", image=missing)
    groundings = [red, Grounding("transcript", "a.mp3", "hi"), gone, red]
    with Store(tmp_path / "history.sqlite3") as store:
        conversation = store.create_conversation()
        store.add_message(conversation, "user", "what is this?", groundings=groundings)
        [message] = store.messages(conversation)
    # In the order attached, once each, and only those whose kept copy is still there.
    assert message.kept_images(tmp_path) == (str(image.path),)
