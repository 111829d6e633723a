"""The image library: every shared image kept once, its CLIP vectors, indexing and search."""
