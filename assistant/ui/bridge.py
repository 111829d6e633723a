"""Engine events onto the GUI thread: the one place where the engine's dispatcher thread meets Qt."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from assistant.host.client import Handler
from assistant.host.messages import Event

logger = logging.getLogger(__name__)


class EngineBridge(QObject):
    """Give `deliver` to the EngineClient: every request's handler then runs on the GUI thread.

    One queued signal carries (handler, event) pairs, so the events of a request reach its handler in
    the order the engine sent them.
    """

    # Emitted on the client's dispatcher thread; Qt queues it to this object in the GUI thread.
    delivered = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.delivered.connect(self._run)

    def deliver(self, handler: Handler, event: Event) -> None:
        # Runs on the EngineClient's dispatcher thread: do nothing here but hand the pair over.
        self.delivered.emit(handler, event)

    def _run(self, handler: Handler, event: Event) -> None:
        try:
            handler(event)
        except Exception:  # a faulty handler must not take the window down
            logger.exception("Handling %s failed", type(event).__name__)
