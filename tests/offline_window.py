"""A user types one question in the real window and waits for the answer; run as a script by
tests/cli/test_offline.py (inside a network namespace with no interfaces, with the network audit
on). Prints one JSON line: the texts the chat view shows (the test reads the history file itself).

    python tests/offline_window.py MODEL_PATH QUESTION
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from assistant import network_audit
from assistant.settings import Settings
from assistant.ui.app import build

TIMEOUT_MS = 180_000


def main(model: str, question: str) -> int:
    if os.environ.get(network_audit.AUDIT_ENV):  # as `assistant` itself does (assistant/cli/main.py)
        network_audit.install_from_env()
    app = QApplication(sys.argv[:1])
    settings = Settings(model=model, temperature=0.0, max_answer_tokens=24, context_size=2048, threads=1)
    parts = build(app, settings)
    parts.window.show()
    parts.start_engine()
    result: dict[str, object] = {}

    def ask() -> None:
        editor = parts.window.composer.editor
        editor.setFocus()
        QTest.keyClicks(editor, question)
        QTest.keyClick(editor, "\r")
        poll.start(100)

    def check() -> None:
        if parts.session.active_turn is not None:
            return
        poll.stop()
        result["shown"] = parts.window.chat_view.messages_plain_text()
        app.quit()

    poll = QTimer()
    poll.timeout.connect(check)
    QTimer.singleShot(0, ask)
    QTimer.singleShot(TIMEOUT_MS, app.quit)
    app.exec()
    parts.shutdown()
    print(json.dumps(result))
    return 0 if result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
