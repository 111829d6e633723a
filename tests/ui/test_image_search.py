"""The image search panel: shared images found by text and by likeness; a result opens its chat.

Offscreen Qt, the real engine process (RapidOCR, the tiny shapes CLIP trained here, SmolLM2 writing a
few tokens per answer), a real history and image library.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clip_install import install, shape_png, train_and_import
from PySide6.QtCore import Qt

from assistant import settings as settings_module
from assistant.history.store import Store
from assistant.images.kept import kept_path, thumbnail_path
from assistant.library.image_library import ImageLibrary
from assistant.prompt.grounding import Grounding
from assistant.ui.app import AssistantApp
from assistant.ui.library.image_search import EMPTY, NO_CLIP, READY, ImageSearchPanel

pytest.importorskip("open_clip")
pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_and_import(tmp_path_factory.mktemp("clip"))


def ask_about(qtbot, parts: AssistantApp, image: Path, question: str) -> int:
    """Sends `question` with `image` attached; returns the conversation it went to."""
    composer = parts.window.composer
    composer.add_paths([str(image)])
    composer.editor.setPlainText(question)
    qtbot.keyClick(composer.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: not parts.controller.attachments.busy and parts.session.active_turn is None, timeout=WAIT_MS
    )
    assert parts.controller.attachments.last_error is None
    conversation = parts.controller.current_conversation_id
    assert conversation is not None
    return conversation


def search(qtbot, panel: ImageSearchPanel, text: str) -> list[str]:
    panel.query.setText(text)
    qtbot.keyClick(panel.query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.ticket is None, timeout=WAIT_MS)
    return [r.hash for r in panel.results]


def test_search_by_text_open_find_similar_and_forget(qtbot, make_app, tmp_path: Path,
                                                     clip_model: Path) -> None:
    install(clip_model, settings_module.data_dir())
    red = shape_png("red", "circle", tmp_path / "red circle.png")
    blue = shape_png("blue", "square", tmp_path / "blue square.png")
    parts = make_app(max_answer_tokens=4)
    first = ask_about(qtbot, parts, tmp_path / "red circle.png", "What is this?")
    parts.controller.new_chat()
    second = ask_about(qtbot, parts, tmp_path / "blue square.png", "And this one?")
    assert first != second

    parts.window.search_images_action.trigger()
    assert parts.image_search is not None and parts.image_search.panel is not None
    panel = parts.image_search.panel
    assert panel.isVisible() and panel.available
    assert search(qtbot, panel, "a red circle") == [red, blue]
    assert panel.grid.count() == 2 and panel.results[0].conversation_id == first

    panel.open_selected()  # the best match is selected
    assert parts.controller.current_conversation_id == first

    panel.find_similar()  # no engine round trip: the stored vector is the query
    assert [r.hash for r in panel.results] == [blue]
    assert panel.results[0].conversation_id == second
    panel.grid.itemDoubleClicked.emit(panel.grid.item(0))
    assert parts.controller.current_conversation_id == second

    data = settings_module.data_dir()
    assert kept_path(red, data) is not None and thumbnail_path(red, data) is not None
    parts.controller.delete(first)
    assert search(qtbot, panel, "a red circle") == [blue]
    # Its only image left the disk with it; the other chat's image stayed.
    assert kept_path(red, data) is None and thumbnail_path(red, data) is None
    assert kept_path(blue, data) is not None and thumbnail_path(blue, data) is not None


def test_without_a_clip_model_the_panel_says_how_to_install_one(qtbot, make_app) -> None:
    parts = make_app(engine=False)
    parts.window.search_images_action.trigger()
    assert parts.image_search is not None and parts.image_search.panel is not None
    panel = parts.image_search.panel
    assert panel.notice.text() == NO_CLIP and "assistant models import-clip" in NO_CLIP
    assert not panel.available and not panel.query.isEnabled() and not panel.grid.isEnabled()
    panel.search()  # inert: nothing is sent to an engine
    assert panel.ticket is None


def test_images_shared_before_clip_are_indexed_when_the_engine_starts(qtbot, make_app, tmp_path: Path,
                                                                     clip_model: Path) -> None:
    # Two chats whose images were kept while no CLIP model was installed: in the library, unindexed.
    hashes = {}
    with Store(settings_module.history_path()) as store, ImageLibrary(settings_module.data_dir()) as library:
        for colour, shape in (("red", "circle"), ("blue", "square")):
            picture = tmp_path / f"{colour}.png"
            digest = shape_png(colour, shape, picture)
            conversation = store.create_conversation(f"About the {colour} {shape}")
            message = store.add_message(conversation, "user", "What is this?",
                                        groundings=[Grounding("image", picture.name, "", image=digest)])
            assert library.add(picture, conversation, message) == digest
            hashes[colour] = digest
    install(clip_model, settings_module.data_dir())

    parts = make_app(max_answer_tokens=4)  # starts the engine: the images are indexed behind the load
    indexing = parts.image_search.indexing if parts.image_search is not None else None
    assert indexing is not None
    qtbot.waitUntil(lambda: indexing.ticket is None, timeout=WAIT_MS)
    assert indexing.last_error is None and indexing.indexed == 2

    parts.window.search_images_action.trigger()
    panel = parts.image_search.panel
    assert panel is not None and panel.notice.text() == READY
    assert search(qtbot, panel, "a red circle") == [hashes["red"], hashes["blue"]]
    captions = [panel.grid.item(row).text() for row in range(panel.grid.count())]
    assert captions[0].startswith("1. About the red circle\n") and captions[0].endswith("●●●●")
    assert captions[1].startswith("2. About the blue square\n") and captions[1].endswith("●○○○")
    assert panel.grid.iconSize().width() >= 128 and not panel.grid.item(0).icon().isNull()


def test_with_a_clip_model_but_no_images_the_panel_says_what_it_is_for(qtbot, make_app,
                                                                       clip_model: Path) -> None:
    install(clip_model, settings_module.data_dir())
    parts = make_app(engine=False)
    parts.window.search_images_action.trigger()
    panel = parts.image_search.panel if parts.image_search is not None else None
    assert panel is not None and panel.available and panel.notice.text() == EMPTY
    assert not (settings_module.data_dir() / "image_library").exists()  # not created to say so
