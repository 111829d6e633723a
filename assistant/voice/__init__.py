"""Push-to-talk text and spoken replies (no Qt, no ML library)."""
