"""Push-to-talk and read-aloud in the window."""
