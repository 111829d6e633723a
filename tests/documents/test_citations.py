"""Numbered passages, the citation rules, and the answer's [n] mapped back to files and pages (pure)."""

from __future__ import annotations

import json

from assistant.history.export import to_json, to_markdown
from assistant.history.store import Store
from assistant.prompt import documents
from assistant.prompt.attachments import Attachment
from assistant.prompt.documents import Passage
from assistant.prompt.grounding import Grounding, grounded_question, passages

REPORT = Passage("report.pdf", "/docs/report.pdf", "The Quillfeather budget for 2031 is 4.2 million.", page=3)
NOTES = Passage("notes.md", "/docs/notes.md", "Meeting moved to Tuesday.", heading="Plans  for\nMay")
CODE = Passage("tool.py", "/src/tool.py", "def grind():\n    pass", first_line=10, last_line=24)


def test_locators_name_the_page_the_section_or_the_lines() -> None:
    assert REPORT.label == "report.pdf, page 3"
    assert NOTES.label == "notes.md, “Plans for May”"
    assert CODE.label == "tool.py, lines 10–24"
    assert Passage("a.txt", "/a.txt", "x", first_line=7, last_line=7).label == "a.txt, line 7"
    assert Passage("a.txt", "/a.txt", "x").label == "a.txt"
    assert len(Passage("a.md", "/a.md", "x", heading="h" * 200).locator) < 100


def test_the_prompt_numbers_each_source_with_its_locator_then_asks_then_gives_the_rules() -> None:
    fitted = documents.fit_passages([REPORT, NOTES, CODE], "What is the budget?", 3000)
    assert [p.number for p in fitted] == [1, 2, 3]
    prompt = documents.build_question(fitted, "What is the budget?")
    assert prompt.startswith("Sources:\n\n[1] report.pdf, page 3\nThe Quillfeather budget")
    assert "\n\n[2] notes.md, “Plans for May”\nMeeting moved to Tuesday.\n\n[3] tool.py" in prompt
    rules = prompt.split("Question: What is the budget?\n\n")[1]
    assert rules == documents.DOCUMENTS_INSTRUCTION
    assert "in square brackets, such as [1]" in rules and '"The documents do not cover this."' in rules


def test_passages_that_do_not_fit_are_left_out_whole_and_a_shorter_one_is_taken() -> None:
    long = Passage("big.pdf", "/big.pdf", "word " * 2000, page=1)
    fitted = documents.fit_passages([long, REPORT, REPORT, NOTES], "q", 1000)
    assert [p.name for p in fitted] == ["report.pdf", "notes.md"]  # the duplicate is shown once
    assert [p.number for p in fitted] == [1, 2]
    assert len(documents.fit_passages([REPORT] * 1 + [NOTES, CODE], "q", 3000, max_passages=2)) == 2
    prompt = documents.build_question(fitted, "q")
    assert documents.estimate_tokens(prompt) <= 1000 * documents.PASSAGE_SHARE
    assert documents.fit_passages([REPORT], "q", 3000, first_number=4)[0].number == 4


def test_only_passages_the_search_found_relevant_are_kept() -> None:
    unrelated = Passage("x.md", "/x.md", "Cats sleep a lot.", relevant=False)
    assert documents.relevant([unrelated, REPORT, NOTES]) == [REPORT, NOTES]
    assert documents.relevant([unrelated]) == []


def test_cited_numbers_are_read_in_every_common_form_and_mapped_back_in_order() -> None:
    assert documents.cited_numbers("It is 4.2 million [2]. Also [1][3] and [1, 2] and [2;3].") == [2, 1, 3]
    assert documents.cited_numbers("See [1-3] and [5–6].") == [1, 2, 3, 5, 6]
    assert documents.cited_numbers("a list [a], an array x[i], nothing [ ]") == []
    assert documents.cited_numbers("[1-5000]") == [1]
    fitted = documents.fit_passages([REPORT, NOTES, CODE], "q", 3000)
    answer = "The budget is 4.2 million [1]. The code is in [3], [9] and [2024]."
    assert [p.name for p in documents.cited(answer, fitted)] == ["report.pdf", "tool.py"]
    block = documents.sources_block(answer, fitted)
    assert block == "Sources:\n[1] report.pdf, page 3\n[3] tool.py, lines 10–24"
    assert documents.sources_block("No citation here.", fitted) == ""


def test_an_answer_without_citations_gets_the_passages_that_hold_its_own_facts() -> None:
    fitted = documents.fit_passages([NOTES, REPORT, CODE], "q", 3000)  # report.pdf is [2]
    question = "How large is the Quillfeather budget?"
    answer = "The Quillfeather budget for 2031 is 4.2 million."
    assert [p.number for p in documents.supporting(answer, question, fitted)] == [2]
    assert documents.sources_block(answer, fitted, question) == "Sources:\n[2] report.pdf, page 3"
    # Citations win when the cited passage holds the answer's facts; a wrong number is corrected.
    assert [p.number for p in documents.sources("It is 4.2 million [2].", question, fitted)] == [2]
    assert [p.number for p in documents.sources("It is 4.2 million [1].", question, fitted)] == [2]
    assert [p.number for p in documents.sources("It is 9.9 billion [3].", question, fitted)] == [3]
    # Nothing of the passages, or a plain "not covered", names no source.
    assert documents.supporting("The documents do not cover this.", question, fitted) == []
    # A right answer followed by a needless "not covered" (the 0.5B adds one) keeps its source.
    late = "The Quillfeather budget is 4.2 million. The documents do not cover this."
    assert [p.number for p in documents.supporting(late, question, fitted)] == [2]
    assert documents.supporting("Quillfeather budget.", question, fitted) == []  # only the question's words
    assert documents.supporting("Seventeen giraffes.", question, fitted) == []


def test_passage_groundings_render_the_same_prompt_and_survive_the_history_file(tmp_path) -> None:
    fitted = documents.fit_passages([REPORT, NOTES], "What is the budget?", 3000)
    groundings = [Grounding.from_passage(p) for p in fitted]
    prompt = grounded_question(groundings, "What is the budget?")
    assert prompt == documents.build_question(fitted, "What is the budget?")
    assert groundings[0].heading() == "[1] report.pdf, page 3"

    store = Store(tmp_path / "history.sqlite3")
    try:
        conversation = store.create_conversation("t")
        searched = Grounding("search", "your documents", "nothing matched", sent=False)
        store.add_message(conversation, "user", "What is the budget?", prompt=prompt,
                          groundings=[*groundings, searched])
        stored = store.messages(conversation)[0]
    finally:
        store.close()
    assert stored.groundings[:2] == tuple(groundings)
    back = passages(stored.groundings)
    assert [p.label for p in back] == ["report.pdf, page 3", "notes.md, “Plans for May”"]
    assert back[0].path == "/docs/report.pdf" and back[0].page == 3 and back[0].number == 1
    assert grounded_question(stored.groundings, "What is the budget?") == prompt

    exported = json.loads(to_json(store_summary(), [stored]))["messages"][0]["grounding"]
    assert exported[0] | {"text": ""} == {"kind": "passage", "source": "report.pdf", "text": "", "sent": True,
                                          "parts": 0, "number": 1, "locator": "page 3"}
    assert "/docs/" not in json.dumps(exported)  # exports get shared: no local paths
    markdown = to_markdown(store_summary(), [stored])
    assert "**[1] report.pdf, page 3**" in markdown and "Quillfeather budget" in markdown


def test_passages_after_other_material_keep_their_numbers_and_the_mixed_instruction() -> None:
    image = Grounding("image", "shot.png", "Error 42")
    passage = Grounding.from_passage(documents.fit_passages([REPORT], "q", 3000)[0])
    prompt = grounded_question([passage, image], "Explain")
    order = [prompt.index(part) for part in ("Error 42", "[1] report.pdf, page 3", "Question: Explain")]
    assert order == sorted(order)
    assert prompt.endswith(documents.MIXED_INSTRUCTION)


def test_default_questions_for_attached_documents() -> None:
    from assistant.prompt.grounding import default_question

    one = Attachment("document", "/a.pdf", "a.pdf", 10)  # type: ignore[arg-type]
    assert default_question([one]) == documents.DEFAULT_QUESTION
    assert default_question([one, one]) == "Summarise these documents."


def store_summary():
    from assistant.history.types import ConversationSummary

    return ConversationSummary(1, "t", 0.0, 0.0, 1)
