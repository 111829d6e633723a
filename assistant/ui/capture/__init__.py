"""Images taken from the screen or a camera, straight into the question (issue #16)."""
