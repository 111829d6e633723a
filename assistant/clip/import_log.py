"""What `assistant models import-clip` says while it works, and the library warnings it hides.

Shared by the converter (`importer.py`) and its int8 step (`quantize.py`), which import it, not each
other."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Where the converter reports its steps: the log by default, stderr lines on the command line.
Report = Callable[[str], None]


class _DropRecords(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


@contextmanager
def quiet_root_log(prefix: str) -> Iterator[None]:
    """Drops one misleading warning that a library logs on the root logger (open_clip, onnxruntime)."""
    root, drop = logging.getLogger(), _DropRecords(prefix)
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
