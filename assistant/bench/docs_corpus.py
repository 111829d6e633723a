"""A generated corpus with known answers, for retrieval quality (`bench docs` and the tests).

Thirty invented places, each with a Markdown file of eight sections; every section states one fact
in a sentence of its own among filler about the same place, and the question for it asks in other
words ("What does it cost to tie up a boat overnight in Varnholm?" for "mooring fee ... 14 crowns").
Invented names are rare words that BM25 finds at once but the embedding model has never seen; the
paraphrases share meaning but few words with the fact, which the embedding model sees and BM25 does
not: each half misses what the other finds, which is what fusing them is for. Seeded, so every run
and every machine gets the same corpus.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

SYLLABLES = ("var", "nol", "tre", "mik", "sal", "dor", "quen", "bri", "ost", "lum", "kar", "vel", "thor",
             "ina", "res", "gald", "wyn", "fer", "mo", "zel")
# (section heading, fact sentence with {place} and {n}, question asked in other words)
TOPICS = (
    ("Harbour", "The harbour master of {place} charges {n} crowns for mooring a boat overnight.",
     "What does it cost to tie up a vessel for the night in {place}?"),
    ("School", "The village school of {place} teaches {n} pupils in four classrooms.",
     "How many children attend lessons in {place}?"),
    ("Bakery", "Every morning the {place} bakery bakes {n} loaves of rye bread.",
     "How much bread is made each day in {place}?"),
    ("Bridge", "The stone bridge at {place} is {n} metres long and crosses the river.",
     "What is the length of the crossing over the river in {place}?"),
    ("Festival", "The lantern festival of {place} is held on the {n}th day of autumn.",
     "On which day does {place} celebrate with lights?"),
    ("Library", "The public library of {place} lends out {n} books every week.",
     "How many volumes do readers borrow weekly in {place}?"),
    ("Well", "The old well in {place} is {n} metres deep and never runs dry.",
     "How far down does the water shaft in {place} go?"),
    ("Choir", "The church choir of {place} has {n} singers, most of them fishermen.",
     "How many voices sing in {place}'s church?"),
)
FILLER = (
    "Visitors to {place} often remark on the quiet streets and the smell of the sea.",
    "The people of {place} keep their own customs and speak slowly to strangers.",
    "In winter the roads to {place} are sometimes closed for several days.",
    "Old maps show {place} as a small dot between two hills.",
    "The council of {place} meets on the first Monday of each month.",
)


@dataclass(frozen=True)
class Question:
    text: str
    file: str
    heading: str  # the section's heading path, as the library's locator has it
    answer: str


def place_names(count: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize())
    return sorted(names)


def write_corpus(folder: Path, places: int = 30, seed: int = 13) -> list[Question]:
    """Writes the corpus into `folder` and returns its questions with their answers' locations."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    questions: list[Question] = []
    for place in place_names(places, rng):
        file = f"{place.lower()}.md"
        sections = [f"# {place}\n", f"{' '.join(f.format(place=place) for f in rng.sample(FILLER, 2))}\n"]
        for heading, fact, question in TOPICS:
            n = str(rng.randint(12, 980))
            filler = " ".join(f.format(place=place) for f in rng.sample(FILLER, 3))
            sections.append(f"## {heading}\n\n{filler} {fact.format(place=place, n=n)} "
                            f"{rng.choice(FILLER).format(place=place)}\n")
            questions.append(Question(question.format(place=place), file, f"{place} › {heading}", n))
        (folder / file).write_text("\n".join(sections), encoding="utf-8")
    return questions
