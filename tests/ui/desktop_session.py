"""The app as `assistant` starts it (assistant.cli.main with no arguments), on a real X screen, with
the one stand-in a CI machine needs: a microphone that plays a recording through sounddevice's callback
path (tests/fake_audio_device.py, installed as the `sounddevice` module the recorder imports by name).
Run by tests/ui/test_desktop_x11.py; prints what the test waits for, one line each:

    grabbed       the global push-to-talk key is grabbed on the X server (the app's own log line)
    recording     the microphone was opened (by the key, wherever the focus is)
    heard-all     the whole recording has been delivered to the app

    python tests/ui/desktop_session.py WAV SECONDS
"""

from __future__ import annotations

import logging
import sys
import threading
import wave
from typing import Any


class _Reporter(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Global push-to-talk key"):
            print("grabbed" if record.getMessage().endswith("grabbed") else record.getMessage(), flush=True)


def main(wav: str, seconds: float) -> int:
    import numpy as np
    from fake_audio_device import FakeSoundDevice

    with wave.open(wav, "rb") as handle:
        pcm = np.frombuffer(handle.readframes(round(seconds * handle.getframerate())), dtype="<i2")
        rate = handle.getframerate()
    microphone = FakeSoundDevice(pcm.astype(np.float32) / 32768.0, samplerate=rate, channels=1)
    open_stream = microphone.InputStream

    def reporting_stream(**kwargs: Any) -> Any:
        stream = open_stream(**kwargs)
        print("recording", flush=True)
        threading.Thread(target=lambda: (stream.exhausted.wait(), print("heard-all", flush=True)),
                         daemon=True).start()  # fmt: skip
        return stream

    microphone.InputStream = reporting_stream  # type: ignore[method-assign]
    sys.modules["sounddevice"] = microphone  # type: ignore[assignment]
    hotkey_log = logging.getLogger("assistant.ui.desktop.global_hotkey")
    hotkey_log.setLevel(logging.INFO)
    hotkey_log.addHandler(_Reporter())

    from assistant.cli.main import main as assistant

    return assistant([])


if __name__ == "__main__":  # the engine process (multiprocessing spawn) imports this file too
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
