"""Exports of one conversation: stable JSON fields, readable Markdown, atomic files chosen by suffix."""

from __future__ import annotations

import json
import os
from datetime import UTC
from pathlib import Path

import pytest

from assistant.history.export import JSON_FORMAT, JSON_VERSION, export_conversation, to_json, to_markdown
from assistant.history.store import ConversationSummary, Store, StoredMessage, StoreError
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding

SUMMARY = ConversationSummary(id=7, title="Trip to Lisbon", created_at=0.0, updated_at=90.5, message_count=2)
MESSAGES = [
    StoredMessage(
        id=1,
        conversation_id=7,
        role="user",
        text="Trains to Porto?",
        status="complete",
        model=None,
        timings={},
        created_at=60.0,
    ),
    StoredMessage(
        id=2,
        conversation_id=7,
        role="assistant",
        text="Take the **Alfa Pendular**.\n",
        status="stopped",
        model="qwen2.5-0.5b",
        timings={"tokens": 5, "seconds": 0.25},
        created_at=90.5,
        sampling={"temperature": 0.3, "top_k": 40, "top_p": 0.95, "min_p": 0.1, "repeat_penalty": 1.0,
                  "seed": 1234, "task": "open", "reason": "a small model (0.6B); a fresh seed."},
    ),
]


def test_json_has_the_documented_fields() -> None:
    document = json.loads(to_json(SUMMARY, MESSAGES))
    assert document["format"] == JSON_FORMAT and document["version"] == JSON_VERSION == 1
    assert document["conversation"] == {
        "id": 7,
        "title": "Trip to Lisbon",
        "created_at": "1970-01-01T00:00:00.000+00:00",
        "updated_at": "1970-01-01T00:01:30.500+00:00",
        "message_count": 2,
    }
    assert document["messages"][1] == {
        "id": 2,
        "role": "assistant",
        "text": "Take the **Alfa Pendular**.\n",
        "status": "stopped",
        "model": "qwen2.5-0.5b",
        "timings": {"tokens": 5, "seconds": 0.25},
        "created_at": "1970-01-01T00:01:30.500+00:00",
        "attachments": [],
        "grounding": [],
        "prompt": None,
        "sampling": MESSAGES[1].sampling,
    }
    assert document["messages"][0]["model"] is None and document["messages"][0]["sampling"] is None
    assert to_json(SUMMARY, MESSAGES) == to_json(SUMMARY, MESSAGES)  # stable output


def test_json_keeps_non_ascii_text_readable() -> None:
    message = StoredMessage(1, 7, "user", "café ☕", "complete", None, {}, 0.0)
    assert "café ☕" in to_json(SUMMARY, [message])


def test_markdown_reads_as_a_transcript() -> None:
    text = to_markdown(SUMMARY, MESSAGES, tz=UTC)
    assert text.startswith("# Trip to Lisbon\n")
    assert "_Started 1970-01-01 00:00, 2 messages._" in text
    assert "## You (1970-01-01 00:01)\n\nTrains to Porto?\n" in text
    assert "## Assistant (1970-01-01 00:01, qwen2.5-0.5b)\n\nTake the **Alfa Pendular**.\n" in text
    assert "_(stopped before it finished)_" in text
    assert ("_Sampling: temperature 0.3, top-k 40, top-p 0.95, min-p 0.1, repeat penalty 1, seed 1234 "
            "(a small model (0.6B); a fresh seed.)_") in text
    assert text.endswith("\n") and not text.endswith("\n\n")


GROUNDED = StoredMessage(
    3,
    7,
    "user",
    "What about the pond?",
    "complete",
    None,
    {},
    0.0,
    prompt="Transcript of park.wav:\n<<<\n[00:00] A pond with ducks.\n>>>\n\nQuestion: What about the pond?",
    attachments=(Attachment("audio", "/home/me/secret-folder/park.wav", "park.wav", 51_234),),
    groundings=(Grounding("transcript", "park.wav", "[00:00] A pond with ```ducks```."),),
)


def test_json_lists_attachments_and_grounding_without_local_paths() -> None:
    message = json.loads(to_json(SUMMARY, [GROUNDED]))["messages"][0]
    assert message["text"] == "What about the pond?"
    assert message["attachments"] == [{"kind": "audio", "name": "park.wav", "size": 51_234}]
    transcript = {"kind": "transcript", "source": "park.wav", "text": "[00:00] A pond with ```ducks```."}
    assert message["grounding"] == [{**transcript, "sent": True, "parts": 0}]
    assert message["prompt"].startswith("Transcript of park.wav:")
    assert "secret-folder" not in to_json(SUMMARY, [GROUNDED])


def test_markdown_folds_what_the_model_was_told() -> None:
    text = to_markdown(SUMMARY, [GROUNDED], tz=UTC)
    assert "_Attached: park.wav (recording)_\n\nWhat about the pond?\n" in text
    assert "<details><summary>What the model was told</summary>" in text
    # The transcript holds ``` itself, so the fence around it is longer and the block stays whole.
    assert "**Transcript of park.wav**\n\n````text\n[00:00] A pond with ```ducks```.\n````" in text
    assert "secret-folder" not in text


def test_markdown_of_an_empty_chat() -> None:
    text = to_markdown(SUMMARY, [], tz=UTC)
    assert "0 messages" in text


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "history.sqlite3") as opened:
        yield opened


def test_export_chooses_the_format_by_suffix(store: Store, tmp_path: Path) -> None:
    chat = store.create_conversation("Exported")
    store.add_message(chat, "user", "hello there")
    store.add_message(chat, "assistant", "partial", status="interrupted", model="m", timings={"t": 1})

    json_path = tmp_path / "out" / "chat.JSON"
    export_conversation(store, chat, json_path)
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert [m["status"] for m in document["messages"]] == ["complete", "interrupted"]
    assert document["conversation"]["title"] == "Exported"

    md_path = tmp_path / "chat.md"
    export_conversation(store, chat, md_path)
    markdown = md_path.read_text(encoding="utf-8")
    assert markdown.startswith("# Exported\n") and "hello there" in markdown and "interrupted" in markdown

    leftovers = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    assert leftovers == []


def test_export_replaces_an_existing_file_whole(store: Store, tmp_path: Path) -> None:
    chat = store.create_conversation("New content")
    path = tmp_path / "chat.md"
    path.write_text("old content " * 1000, encoding="utf-8")
    export_conversation(store, chat, path)
    assert path.read_text(encoding="utf-8").startswith("# New content\n")
    assert "old content" not in path.read_text(encoding="utf-8")


def test_export_refuses_unknown_suffix_with_a_user_message(store: Store, tmp_path: Path) -> None:
    chat = store.create_conversation()
    with pytest.raises(StoreError, match=r"\.md or \.json"):
        export_conversation(store, chat, tmp_path / "chat.txt")
    assert not (tmp_path / "chat.txt").exists()


def test_export_failure_is_explained_and_leaves_no_temp_file(store: Store, tmp_path: Path) -> None:
    chat = store.create_conversation()
    target = tmp_path / "chat.json"
    target.mkdir()  # a folder in the way: os.replace fails
    with pytest.raises(StoreError, match="could not be exported"):
        export_conversation(store, chat, target)
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []


def test_export_of_a_deleted_chat(store: Store, tmp_path: Path) -> None:
    chat = store.create_conversation()
    store.delete_conversation(chat)
    with pytest.raises(StoreError):
        export_conversation(store, chat, tmp_path / "chat.md")
