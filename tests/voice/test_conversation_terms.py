"""Names and terms taken from the conversation as hints for the speech model."""

from __future__ import annotations

from assistant.voice.conversation_terms import MAX_CHARS, conversation_terms


def test_names_identifiers_and_acronyms_are_taken_and_common_words_are_not() -> None:
    chat = [
        "Can you book a table at Nobu for Dr. Okafor and Siobhan on Friday?",
        "Sure. What time should I book Nobu for?",
        "How do I use PySide6 with read_csv and the NASA API?",
    ]
    terms = conversation_terms(chat)
    assert set(terms) == {"Nobu", "Okafor", "Siobhan", "PySide6", "read_csv", "NASA", "API"}
    assert terms[:3] == ("PySide6", "read_csv", "NASA")  # the newest message first
    assert terms.count("Nobu") == 1


def test_a_capital_at_the_start_of_a_sentence_is_not_a_name() -> None:
    assert conversation_terms(["Tomorrow we leave. Bring coats! Maybe hats."]) == ()


def test_the_list_is_capped() -> None:
    many = " ".join(f"and Name{i}x" for i in range(200))
    terms = conversation_terms([many])
    assert 0 < len(terms) <= 24 and sum(len(t) + 1 for t in terms) <= MAX_CHARS
