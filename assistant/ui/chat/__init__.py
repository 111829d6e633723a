"""The conversation on screen: messages, the sidebar, and the controller that runs a turn."""
