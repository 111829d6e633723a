"""Numbers in transcripts as a user types them, and everything ambiguous left as Whisper wrote it."""

from __future__ import annotations

import pytest

from assistant.voice.spoken_numbers import normalise_numbers


@pytest.mark.parametrize(
    ("whisper", "typed"),
    [
        ("Wake me up at 7.30 tomorrow morning.", "Wake me up at 7:30 tomorrow morning."),
        ("my flight leaves at 6.45 in the evening.", "my flight leaves at 6:45 in the evening."),
        ("Open from 9.00 to 17.30 on weekdays.", "Open from 9:00 to 17:30 on weekdays."),
        ("Meet me at 3.15pm.", "Meet me at 3:15pm."),
        ("It is 3.15 p.m. now.", "It is 3:15 p.m. now."),
        ("It cost 12 dollars and 50 cents.", "It cost $12.50."),
        ("I paid 5 dollars for it.", "I paid $5 for it."),
        ("It was 1,200 dollars.", "It was $1,200."),
        ("The ticket costs 40 euros.", "The ticket costs €40."),
        ("Only 30 percent of the tickets are left.", "Only 30% of the tickets are left."),
        ("A rise of 2.5 per cent.", "A rise of 2.5%."),
        ("I'll be there at 3.30.", "I'll be there at 3:30."),
        ("Lunch is between 12.30 and 1.15.", "Lunch is between 12:30 and 1:15."),
        # Number words Whisper left spelt out before a unit
        ("That is ten dollars.", "That is $10."),
        ("A three point five percent rise.", "A 3.5% rise."),
        ("Twenty-five percent off.", "25% off."),
        ("It costs twenty five dollars and fifty cents.", "It costs $25.50."),
        # a range of percentages, not of times: only the unit is written as a sign
        ("The rate went from 2.25 to 2.75 percent.", "The rate went from 2.25 to 2.75%."),
    ],
)
def test_times_money_and_percentages_are_written_as_typed(whisper: str, typed: str) -> None:
    assert normalise_numbers(whisper) == typed


@pytest.mark.parametrize(
    "ambiguous",
    [
        "It sells at 2.50 each.",  # a price, not a time
        "The file is 2.5 gigabytes.",
        "Python 3.10 is out.",  # a version
        "It weighs 50 pounds.",  # weight or money: left alone
        "The score was 3.14 points.",
        "Twenty five people came.",  # words Whisper left as words stay words
        "We stayed until 25.70 on the scale.",  # not a time of day
        "Meet me at half past three.",  # a time in words is how it was said
        "The price rose to 2.50.",  # "to" alone does not introduce a time
        "About 1.25 million people live there.",
        "It sells at 2.50.",  # a price at the end of a sentence
        "I waited for 2.30 hours.",
        "Twenty five people came by 10.30 km.",
    ],
)
def test_ambiguous_numbers_are_left_alone(ambiguous: str) -> None:
    assert normalise_numbers(ambiguous) == ambiguous
