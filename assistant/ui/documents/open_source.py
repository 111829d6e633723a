"""Opening a cited source: the file, at the passage's page where the viewer allows it.

PDF viewers that read URL fragments (Firefox's and Chromium's built-in viewers, Okular, qpdfview…) open
`file:///…/report.pdf#page=3` at page 3, the fragment Adobe's "PDF open parameters" define; the others
ignore it and open the first page, which is still the right file. Other formats have no portable way
to name a place, so they open at the start. The URL goes to the desktop's handler through
QDesktopServices; when that reports a failure (some handlers refuse a fragment) the plain file is tried,
and on Linux `xdg-open` is the last resort. Nothing here reads the file: a source whose file has gone is
refused with a message instead of handing the desktop a path that does not exist.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from assistant.prompt.documents import Passage

logger = logging.getLogger(__name__)

PAGED_SUFFIXES = (".pdf",)


def source_url(path: str, page: int = 0) -> QUrl:
    """The file's URL, with `#page=N` for a PDF passage on page N."""
    url = QUrl.fromLocalFile(os.path.abspath(path))
    if page > 0 and Path(path).suffix.lower() in PAGED_SUFFIXES:
        url.setFragment(f"page={page}")
    return url


class SourceOpener:
    """Opens cited sources; `open_url` and `run` are the desktop's (tests record what was asked)."""

    def __init__(
        self,
        open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl,
        run: Callable[[list[str]], object] | None = None,
    ) -> None:
        self._open_url = open_url
        self._run = run if run is not None else _spawn

    def open(self, passage: Passage) -> str | None:
        """Open the passage's file (at its page); None when it went to a viewer, else why not."""
        path = passage.path
        if not path or not os.path.isfile(path):
            return f"{passage.name} is no longer at {path or 'its old place'}: it was moved or deleted."
        url = source_url(path, passage.page)
        if self._open_url(url):
            return None
        if url.hasFragment():
            logger.info("The desktop did not open %s; trying the file without its page", url.toString())
            if self._open_url(source_url(path)):
                return None
        opener = shutil.which("xdg-open") if sys.platform.startswith("linux") else None
        if opener is not None:
            try:
                self._run([opener, path])
                return None
            except OSError as error:
                logger.warning("xdg-open failed for %s: %s", path, error)
        return f"No program on this computer opens {passage.name}. Open it from {Path(path).parent}."


def _spawn(command: list[str]) -> object:
    # Not waited for: the viewer runs on its own, and closing it is the user's business.
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
