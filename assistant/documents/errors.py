"""Errors of the documents library; ``str()`` of each is a message for the user."""

from __future__ import annotations


class DocumentsError(Exception):
    """The library itself cannot be used (its database cannot be opened or written)."""


class DiskFull(DocumentsError):
    """The disk under the library filled up: the file being indexed was rolled back, earlier ones stay."""


class SourceRefused(DocumentsError):
    """A path that cannot be added as a source (missing, a device, already in the library...)."""


class UnreadableDocument(Exception):
    """One file cannot be indexed; ``str()`` says why in words ("the PDF is encrypted", ...).

    Never fatal: the file is recorded as skipped with this reason and the run goes on.
    """


class FileChanged(UnreadableDocument):
    """The file changed or disappeared while it was read: nothing of it was kept; the next scan retries."""
