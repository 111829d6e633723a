"""The documents library's SQLite schema (``<data dir>/documents/documents.sqlite3``).

sources  the files and folders the user added
files    every file found under a source: its size, mtime and content hash (change detection), and how
         the last reading went ('indexed', or 'skipped' with the reason in words)
chunks   the passages cut from a file, with their locator (page, heading path, line range)
chunks_fts  FTS5 over the chunks' text (external content: the text is stored once, in `chunks`);
         triggers keep it in sync, so a deleted chunk leaves the index with it
vectors  one embedding per chunk and model (float32 bytes): in the same file and the same transaction
         as its chunk, so a crash can never leave a vector without its passage or the reverse, and
         `secure_delete` zeroes a removed vector like its text

meta     'generation' counts changes to passages and vectors: the engine reloads its matrix when it moved;
         'reshaped' is the generation of the last change that was more than new vectors appended (then
         the engine reads every vector again, else only the new ones)
reading  the file being parsed right now: a row left behind means the engine died while parsing it. The
         next run reads it again (the engine may have been killed from outside), with `started` set to
         -1; a row still there after that second reading means the parser crashes on it, so the file is
         recorded as skipped instead of crashing the engine on every run

Vectors live in SQLite rather than in a memory-mapped file beside it (as the image library does) for
that reason: removing a folder must leave nothing on the disk, and one transaction does it. The engine
searches an in-memory float32 matrix it loads from this table (`documents.vector_index`).
"""

from __future__ import annotations

VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    is_folder INTEGER NOT NULL,
    added_at REAL NOT NULL,
    last_scan REAL
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'skipped')),
    reason TEXT NOT NULL DEFAULT '',
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_source ON files(source_id);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    page INTEGER,
    heading TEXT NOT NULL DEFAULT '',
    first_line INTEGER,
    last_line INTEGER,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TABLE IF NOT EXISTS vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_model ON vectors(model);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', 0);
INSERT OR IGNORE INTO meta VALUES ('reshaped', 0);
CREATE TABLE IF NOT EXISTS reading (path TEXT PRIMARY KEY, started REAL NOT NULL);
"""
