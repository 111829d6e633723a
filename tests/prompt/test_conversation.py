import pytest

from assistant.prompt.conversation import PromptTooLong, fit_to_context
from assistant.prompt.texts import conversation_title, render_chatml
from assistant.protocols import ChatMessage


def words(text: str) -> int:
    return len(text.split())


def history(pairs: int) -> list[ChatMessage]:
    messages = [ChatMessage("system", "be brief")]
    for i in range(pairs):
        messages.append(ChatMessage("user", f"question {i} " + "x " * 10))
        messages.append(ChatMessage("assistant", f"answer {i} " + "y " * 10))
    return messages


def test_everything_kept_when_it_fits() -> None:
    messages = [*history(3), ChatMessage("user", "newest")]
    fitted = fit_to_context(messages, words, budget=10_000)
    assert fitted.messages == tuple(messages)
    assert fitted.dropped == 0


def test_oldest_pairs_dropped_system_and_newest_kept() -> None:
    messages = [*history(10), ChatMessage("user", "newest question")]
    fitted = fit_to_context(messages, words, budget=120)
    assert fitted.messages[0].role == "system"
    assert fitted.messages[-1].content == "newest question"
    assert 0 < fitted.dropped < 20
    assert fitted.dropped % 2 == 0, "history is dropped in whole question/answer pairs"
    kept = fitted.messages[1:-1]
    assert kept[0].role == "user", "an answer is never kept without its question"
    assert kept[-1].content.startswith("answer 9"), "the newest history is kept first"
    assert fitted.tokens <= 120


def test_newest_message_alone_too_long() -> None:
    with pytest.raises(PromptTooLong, match="too long"):
        fit_to_context([ChatMessage("system", "s"), ChatMessage("user", "w " * 500)], words, budget=100)


def test_megabyte_message_refused_without_tokenizing() -> None:
    calls: list[int] = []

    def counting(text: str) -> int:
        calls.append(len(text))
        return words(text)

    with pytest.raises(PromptTooLong):
        fit_to_context([ChatMessage("user", "a" * 1_000_000)], counting, budget=4000)
    assert calls == []


def test_chatml_fallback_and_titles() -> None:
    prompt = render_chatml([ChatMessage("system", "S"), ChatMessage("user", "Hi")])
    assert prompt == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert conversation_title("  What is   the capital of France?\nthanks") == (
        "What is the capital of France? thanks"
    )
    long_title = conversation_title("word " * 40)
    assert long_title.endswith("…") and len(long_title) <= 49
    assert conversation_title("   ") == "New chat"
