"""`assistant ask`: one question through the same session, engine process and store as the window."""

from __future__ import annotations

import logging
import queue
import sys

from assistant import settings as settings_module
from assistant.host.client import EngineClient
from assistant.host.messages import Done, Event, Failed, Progress, Token
from assistant.session import ChatSession
from assistant.store import Store, StoreError

logger = logging.getLogger(__name__)


def ask(text: str, *, model: str | None = None, save: bool = True) -> int:
    """Stream the answer to stdout; progress and errors go to stderr. Exit code 0 on a full answer."""
    settings = settings_module.load_settings()
    if model:
        settings.model = model
    data_dir = settings_module.data_dir()
    try:
        store = Store(settings_module.history_path()) if save else None
    except StoreError as error:
        print(f"assistant: {error} (answering without saving)", file=sys.stderr)
        store = None

    # The client calls back on its reader thread; the queue hands events to this (main) thread.
    events: queue.Queue[Event] = queue.Queue()
    client = EngineClient(on_event=events.put)
    session = ChatSession(store, client, settings, data_dir)
    try:
        try:
            turn = session.send(None, text)
        except (ValueError, StoreError) as error:
            print(f"assistant: {error}", file=sys.stderr)
            return 2
        return _print_stream(session, events, turn.request_id)
    finally:
        client.shutdown()
        if store is not None:
            store.close()


def _print_stream(session: ChatSession, events: queue.Queue[Event], request_id: int) -> int:
    stopping = False
    while True:
        try:
            event = events.get()
        except KeyboardInterrupt:
            # Ctrl+C is Stop: the partial answer is kept (status "stopped"), then we exit.
            if not stopping:
                session.stop()
                stopping = True
            continue
        session.handle(event)
        if getattr(event, "request_id", None) != request_id:
            continue
        if isinstance(event, Token):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, Progress) and event.total:
            percent = 100 * event.done // event.total
            print(f"\r{event.stage}: {percent}%", end="", file=sys.stderr, flush=True)
            if event.done >= event.total:
                print(file=sys.stderr)
        elif isinstance(event, Done):
            print()
            return 0 if event.status == "complete" else 130
        elif isinstance(event, Failed):
            print(f"\nassistant: {event.message}", file=sys.stderr)
            return 1
