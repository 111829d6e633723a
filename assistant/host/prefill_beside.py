"""A prompt's fixed start evaluated into the chat model's KV cache on a second thread of the engine
process while the first one reads an image (issue 14: an image question answers sooner).

Reading an image and evaluating the question's prompt used to run one after the other. What comes
before the image's text in the prompt (system prompt, the conversation so far, the start of the
question's message up to the image block's "<<<") does not depend on the image, so `Perception`
starts it here before decoding and reads the image meanwhile: llama.cpp and onnxruntime both release
the GIL while they compute. At Send only what was read and the question are left to evaluate.

Only the engine's request thread reads the pipe, so the prefill's Stop check is an event that thread
sets; `wait` joins before the request ends, so the next request finds the model idle (llama.cpp's
context is not thread-safe). A prefill that fails costs its time, never the image's answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from assistant.protocols import StopCheck

logger = logging.getLogger(__name__)

POLL_S = 0.05  # how often a waiting request thread looks for a Cancel


class PrefillBeside:
    """`evaluate(should_stop)` on a daemon thread; returns the tokens it evaluated."""

    def __init__(self, evaluate: Callable[[StopCheck], int]) -> None:
        self.tokens = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(evaluate,), name="prefill-beside",
                                        daemon=True)
        self._thread.start()

    def _run(self, evaluate: Callable[[StopCheck], int]) -> None:
        started = time.perf_counter()
        try:
            self.tokens = evaluate(self._stop.is_set)
        except Exception:  # the question is still answered: its prompt is then evaluated at Send
            logger.warning("Evaluating the prompt's start beside the image failed", exc_info=True)
        self.seconds = time.perf_counter() - started

    def stop(self) -> None:
        self._stop.set()

    def wait(self, cancelled: Callable[[], bool]) -> None:
        """Join the thread; `cancelled` (the request's own Cancel check) is asked meanwhile, and a
        Cancel stops the evaluation between its batches."""
        while self._thread.is_alive():
            if not self._stop.is_set() and cancelled():
                self._stop.set()
            self._thread.join(POLL_S)
