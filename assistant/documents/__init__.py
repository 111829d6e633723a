"""Your documents: files and folders the user adds, read into passages, found again by hybrid search.

The way through (issue 13): a source (file or folder, `library.add_source`) → a safe walk of its files
(`sources.walk`; stat only) → change detection (size and mtime, then the content hash; `indexer`) →
the parser for the file's kind (`reading.read_blocks` → `parsers/`: PDF with pypdfium2 and OCR for
scanned pages, DOCX with python-docx, Markdown with markdown-it-py, HTML with html.parser, text and code
with charset-normalizer) → passages cut along the document's structure with their page, heading path
or line range (`chunking`) → SQLite (`store`: FTS5 for BM25, vectors beside the passages) → a search
that fuses BM25 and vector similarity by reciprocal rank fusion (`search`).

Parsing and searching run in the engine process (`host/documents.py`): hostile files never reach the
window, and the embedding model (`protocols.TextEmbedder`) lives there. The window uses `library`
(list, add, remove) and the value types in `types`. This package imports no engine and no Qt.
"""
