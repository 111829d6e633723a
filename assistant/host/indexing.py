"""Indexing the image library in the engine process: images shared before a CLIP model was installed.

The window sends an IndexImagesRequest when the engine starts (`assistant.ui.library.image_indexing`). The
engine embeds the unindexed kept copies a small batch at a time (`assistant.library.indexing`) and writes
the vectors into the library itself: the library is safe for two processes (its writes take SQLite's
write lock, and the window's search notices another process's commit through ``data_version``).

The engine serves one request at a time, so a long run must not keep a question waiting: after each
batch it reads the pipe, stops on Cancel, and ends early when any other request is queued (Done with
``remaining`` > 0 in its stats; the window asks again, and the question runs first). The CLIP model is
the one perception loaded (`Perception.clip_model`), kept for the next image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.host.messages import Done, Event, Failed, IndexImagesRequest, Progress
from assistant.protocols import GenerationStats

logger = logging.getLogger(__name__)


class ImageIndexing:
    """Serves IndexImagesRequest for the engine's request loop (one thread)."""

    def __init__(
        self,
        send: Callable[[Event], None],
        check_cancel: Callable[[int], bool],
        others_waiting: Callable[[], bool],
        clip_model: Callable[[Path, str | None], Any],
    ) -> None:
        self._send = send
        self._check_cancel = check_cancel
        self._others_waiting = others_waiting  # requests queued behind this one (read by check_cancel)
        # (data folder, model name or None) -> the installed ClipModel (ModelError without one)
        self._clip_model = clip_model

    def index(self, request: IndexImagesRequest) -> None:
        from assistant.history.types import StoreError
        from assistant.library.indexing import IndexReport, index_unindexed
        from assistant.models.catalog import ModelError

        rid, data_dir = request.request_id, Path(request.data_dir)
        started = time.perf_counter()
        stopped = False

        def after_batch(report: IndexReport) -> bool:
            nonlocal stopped
            done = report.indexed + report.skipped
            self._send(Progress(rid, "index", done, report.total,
                                f"Indexing images for search ({done} of {report.total})"))
            if self._check_cancel(rid):
                stopped = True
                return False
            # A question arrived: it goes first and the window asks again. Not before the first batch,
            # so that every request makes some progress however busy the engine is.
            return done == 0 or not self._others_waiting()

        report = IndexReport()
        if (data_dir / "image_library").is_dir():  # else nothing was ever shared: nothing to create
            from assistant.library.image_library import ImageLibrary  # numpy: only here

            try:
                model = self._clip_model(data_dir, request.model)
                with ImageLibrary(data_dir) as library:
                    report = index_unindexed(library, model, batch_size=request.batch_size,
                                             after_batch=after_batch)
            except (ModelError, StoreError) as error:  # says what to do; what is indexed stays
                logger.warning("Indexing images failed: %s", error)
                self._send(Failed(rid, str(error), kind="bad_model" if isinstance(error, ModelError)
                                  else "engine"))
                return
        stats = GenerationStats(total_s=time.perf_counter() - started)
        stats.extra.update(indexed=float(report.indexed), skipped=float(report.skipped),
                           remaining=float(report.remaining), total=float(report.total))
        self._send(Done(rid, "stopped" if stopped else "complete", stats))
