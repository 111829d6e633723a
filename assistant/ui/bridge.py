"""Engine events into Qt signals: the one place where the engine's reader thread meets the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from assistant.host.messages import Event


class EngineBridge(QObject):
    """Give `on_event` to the EngineClient; connect `event_received` to GUI-thread code."""

    # Emitted from the client's reader thread; Qt queues it to receivers living in the GUI thread.
    event_received = Signal(object)

    def on_event(self, event: Event) -> None:
        # Runs on the EngineClient's reader thread: do nothing here but hand the event over.
        self.event_received.emit(event)
