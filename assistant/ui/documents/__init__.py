"""The window's documents: the Documents panel, the composer's toggle, and answers' clickable sources."""
