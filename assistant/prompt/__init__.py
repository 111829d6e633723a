"""What the model is told, as pure functions: fitting a conversation into the context window, the files
attached to a question and the grounding rendered from them. No I/O and no engine: the engines, the
history and the chat turn all build on it."""
