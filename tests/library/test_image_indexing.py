"""Images shared before a CLIP model was installed get indexed: by `search-images --reindex`, and in the
real engine process (IndexImagesRequest), in batches that step aside for other requests and honour
Cancel. A broken CLIP model is a message and loses nothing.

The tiny CLIP trained here on coloured shapes (`clip_install`), a real library and kept copies.
"""

from __future__ import annotations

import json
import queue
from pathlib import Path

import pytest
from cli_runner import run_assistant
from clip_install import install, shape_png, train_and_import

from assistant.clip.folder import read_config
from assistant.host.client import EngineClient, Ticket
from assistant.host.messages import (
    Done,
    EmbedTextRequest,
    Event,
    Failed,
    IndexImagesRequest,
    Progress,
    Request,
    TextEmbedded,
    result_of,
)
from assistant.library.image_library import ImageLibrary

pytest.importorskip("open_clip")
pytestmark = pytest.mark.timeout(300)

WAIT_S = 120
PICTURES = [(c, s) for c in ("red", "blue", "green") for s in ("circle", "square")]


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_and_import(tmp_path_factory.mktemp("clip"))


def shared_unindexed(tmp_path: Path, data: Path) -> dict[str, str]:
    """Each picture shared in a conversation of its own while no CLIP model was installed."""
    hashes = {}
    with ImageLibrary(data) as library:
        for number, (colour, shape) in enumerate(PICTURES, 1):
            path = tmp_path / f"{colour}-{shape}.png"
            hashes[f"a {colour} {shape}"] = shape_png(colour, shape, path)
            assert library.add(path, number, 10 * number) == hashes[f"a {colour} {shape}"]
    return hashes


def fingerprint(model_folder: Path) -> str:
    return read_config(model_folder).fingerprint


def test_reindex_from_the_command_line_makes_old_images_searchable(tmp_path: Path, clip_model: Path) -> None:
    data, config = tmp_path / "data", tmp_path / "cfg"
    hashes = shared_unindexed(tmp_path, data)
    installed = install(clip_model, data)
    with ImageLibrary(data) as library:
        assert len(library.unindexed(fingerprint(installed))) == len(PICTURES)

    result = run_assistant("search-images", "--reindex", "a red circle", "-k", "2", data_dir=data,
                           config_dir=config)
    assert result.returncode == 0, result.stderr
    assert f"indexing images: 0/{len(PICTURES)}" in result.stderr
    assert f"indexed {len(PICTURES)} of {len(PICTURES)} images" in result.stderr
    assert hashes["a red circle"] in result.stdout.splitlines()[0]  # then searched, best first
    with ImageLibrary(data) as library:
        assert library.unindexed(fingerprint(installed)) == []

    again = run_assistant("search-images", "--reindex", data_dir=data, config_dir=config)
    assert again.returncode == 0 and "indexed 0 of 0 images" in again.stderr


def test_reindex_with_a_broken_model_says_so_and_loses_nothing(tmp_path: Path, clip_model: Path) -> None:
    data, config = tmp_path / "data", tmp_path / "cfg"
    shared_unindexed(tmp_path, data)
    installed = install(clip_model, data)
    tower = installed / json.loads((installed / "config.json").read_text())["files"]["image"]["path"]
    tower.write_bytes(b"\0" * tower.stat().st_size)  # same size, not a model any more
    result = run_assistant("search-images", "--reindex", data_dir=data, config_dir=config)
    assert result.returncode == 1
    assert "damaged" in result.stderr and "import-clip" in result.stderr
    with ImageLibrary(data) as library:
        assert len(library) == len(PICTURES)
        assert len(library.unindexed(fingerprint(installed))) == len(PICTURES)

    with EngineClient() as engine:
        events = list(engine.stream(IndexImagesRequest(str(data))))
    assert isinstance(events[-1], Failed) and events[-1].kind == "bad_model"
    assert "import-clip" in events[-1].message
    with ImageLibrary(data) as library:
        assert len(library) == len(PICTURES)


class Sent:
    """One request and its own events, handed over from the client's dispatcher thread. All handlers
    run on that one thread, so `timeline` holds every request's events in the order they were delivered."""

    def __init__(self, client: EngineClient, request: Request, timeline: list[Event]) -> None:
        self.queue: queue.Queue[Event] = queue.Queue()
        self.seen: list[Event] = []
        self.timeline = timeline
        self.ticket: Ticket = client.send(request, self._receive)

    def _receive(self, event: Event) -> None:
        self.timeline.append(event)
        self.queue.put(event)

    def until_done(self) -> Event:
        while True:
            event = self.queue.get(timeout=WAIT_S)
            self.seen.append(event)
            assert event.request_id == self.ticket.request_id, event  # only this request's events
            if isinstance(event, (Done, Failed)):
                return event


def test_the_engine_indexes_in_batches_steps_aside_and_honours_cancel(tmp_path: Path,
                                                                     clip_model: Path) -> None:
    data = tmp_path / "data"
    hashes = shared_unindexed(tmp_path, data)
    install(clip_model, data)
    timeline: list[Event] = []
    client = EngineClient(stop_timeout_s=60)  # a cancel is confirmed, never killed
    try:
        # Cancelled before its first batch: both messages are in the pipe before the engine has spawned.
        cancelled = Sent(client, IndexImagesRequest(str(data), batch_size=2), timeline)
        cancelled.ticket.cancel()
        end = cancelled.until_done()
        assert isinstance(end, Done) and end.status == "stopped" and end.stats.extra["indexed"] == 0

        # A search arrives behind the indexing: one batch, then the search goes first.
        first = Sent(client, IndexImagesRequest(str(data), batch_size=2), timeline)
        search = Sent(client, EmbedTextRequest("a red circle", str(data)), timeline)
        end = first.until_done()
        assert isinstance(end, Done) and end.status == "complete"
        assert end.stats.extra["indexed"] == 2 and end.stats.extra["remaining"] == len(PICTURES) - 2
        progress = [e for e in first.seen if isinstance(e, Progress)]
        assert [(p.stage, p.done, p.total) for p in progress] == [("index", 0, 6), ("index", 2, 6)]
        query = search.until_done()
        assert isinstance(query, Done)
        embedded = result_of(query, TextEmbedded)
        assert embedded is not None
        # Not answered while the batch ran: the search waited for the indexing to step aside.
        order = [(type(e), e.request_id) for e in timeline]
        batch_end, answer = (Done, first.ticket.request_id), (Done, search.ticket.request_id)
        assert order.index(batch_end) < order.index(answer)

        # As the window does: ask again.
        rest = Sent(client, IndexImagesRequest(str(data), batch_size=2), timeline)
        end = rest.until_done()
        assert isinstance(end, Done) and end.stats.extra["indexed"] == len(PICTURES) - 2
        assert end.stats.extra["remaining"] == 0
    finally:
        client.shutdown()
    with ImageLibrary(data) as library:
        assert library.unindexed(embedded.model) == []
        hits = library.search_vector(embedded.embedding, 3, model=embedded.model)
        assert hits[0].hash == hashes["a red circle"]
