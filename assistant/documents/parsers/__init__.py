"""One parser per document kind; each turns a file into `chunking.Block`s, streaming where it can.

They run in the engine process only (`host/documents.py`): a hostile file may crash or hang a parser,
never the window. `reading.read_blocks` picks the parser by kind and applies the limits.
"""
