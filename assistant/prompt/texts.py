"""Prompt text that does not depend on any model library (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.protocols import ChatMessage

# ChatML is what the bundled Qwen and SmolLM2 models were trained on, and the most common template
# among instruct GGUFs, so it is the least-bad fallback when a model's own template is missing or broken.
CHATML_STOP = ("<|im_end|>", "<|im_start|>")


def render_chatml(messages: Sequence[ChatMessage]) -> str:
    """Render messages as ChatML and open the assistant's turn."""
    parts = [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages]
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def conversation_title(first_question: str, limit: int = 48) -> str:
    """A sidebar title from the first question: its first line, cut at a word boundary."""
    line = " ".join(first_question.strip().split())
    if not line:
        return "New chat"
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(".,;:!?") + "…"


# Whisper's most common languages; other codes are named by their code, which models still follow.
LANGUAGE_NAMES = {
    "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "th": "Thai",
    "tr": "Turkish", "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip


def spoken_language_instruction(code: str | None) -> str | None:
    """The line added to the system prompt so the answer comes in the language the user spoke."""
    if not code or not code.isalpha():
        return None
    name = LANGUAGE_NAMES.get(code.lower(), code)
    return f"The user asked this question out loud in {name}. Answer in {name}."
