"""The image search panel and the library's background indexing."""
