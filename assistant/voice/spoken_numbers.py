"""Numbers in an English transcript written as a user types them: "7:30", "$12.50", "15%".

Whisper already writes most numbers as digits ("25 minutes", "1998", "2.5 gigabytes", "3.5%", "$10");
what it leaves in a form nobody types is narrow, and only that is rewritten (measured on the numbers set
of `assistant bench voice --accuracy`):
- clock times written with a dot: "at 7.30 tomorrow" → "at 7:30 tomorrow", "3.15pm" → "3:15pm",
  "from 9.00 to 17.30" → "from 9:00 to 17:30". Only after a word that introduces a time (at, by,
  until, before, after, since, from), and only when what follows is the end of the sentence or a word
  that goes with a time ("tomorrow", "in the evening", "am"): "rose to 2.50", "about 1.25 million",
  "sells at 2.50 each", "from 2.25 to 2.75 percent" and "Python 3.10" stay as they are;
- dollar and euro amounts in words ("12 dollars and 50 cents" → "$12.50", "ten dollars" → "$10",
  "40 euros" → "€40"); pounds are left alone (a weight as often as money);
- "15 percent" / "3.5 per cent" → "15%" / "3.5%".
Words Whisper left as words ("at half past three", "twenty five people") stay words, and anything
ambiguous stays as Whisper wrote it: a wrong rewrite is worse than a plain one.
"""

from __future__ import annotations

import re

_CLOCK = r"([01]?\d|2[0-3])\.([0-5]\d)"
# Words after which "H.MM" is read as a time of day; "to" and "and" only inside a range ("from ... to").
_TIME_LEAD = r"(?:at|by|until|till|before|after|since|from)(?:\s+(?:about|around))?"
# What may follow a time: the end of a sentence or clause, or a word that goes with a time.
_TIME_END = (
    r"(?=\s*(?:$|[.,!?;:)\"]|(?:tomorrow|tonight|today|this|tomorrow's|on|every|sharp|o'clock|local|"
    r"in\s+the\s+(?:morning|afternoon|evening|night)|[ap]\.?\s?m\b)))"
)
_RANGE_WORD = r"(to|and|until|till|-|–)"
_TIME_RANGE = re.compile(
    rf"\b({_TIME_LEAD}|between)\s+{_CLOCK}\s*{_RANGE_WORD}\s*{_CLOCK}(?!\.?\d){_TIME_END}", re.IGNORECASE
)
_TIME_AFTER_WORD = re.compile(rf"\b({_TIME_LEAD})\s+{_CLOCK}(?!\.?\d){_TIME_END}", re.IGNORECASE)
_TIME_BEFORE_MERIDIEM = re.compile(r"\b(1[0-2]|0?\d)\.([0-5]\d)(?=\s*[ap]\.?\s?m\b)", re.IGNORECASE)
# "sells at 2.50." is a price, not a time: these words before the lead keep the number as it is.
_PRICE_WORDS = frozenset({
    "sell", "sells", "sold", "selling", "priced", "cost", "costs", "costing", "trade", "trades", "traded",
    "trading", "valued", "rated", "charge", "charges", "charged", "bought", "buy", "pay", "paid", "offered",
})
_DOLLARS = re.compile(
    r"\b(\d{1,3}(?:,\d{3})*|\d+)(?:\.(\d{2}))?\s+dollars?(?:\s+and\s+(\d{1,2})\s+cents?)?\b", re.IGNORECASE
)
_EUROS = re.compile(r"\b(\d{1,3}(?:,\d{3})*|\d+)(?:\.(\d{2}))?\s+euros?\b", re.IGNORECASE)
_PERCENT = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:percent|per cent)\b", re.IGNORECASE)
# Number words Whisper sometimes leaves spelt out before a unit ("ten dollars", "three point five
# percent"): 0-99, with spoken decimals, turned into digits only right before dollars, cents, euros or
# percent.
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
          "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_VALUE = {word: value for value, word in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_UNIT = rf"(?:{'|'.join(_UNITS[1:10])})"
_WHOLE = rf"(?:(?:{'|'.join(_TENS)})(?:[-\s]{_UNIT})?|{'|'.join(reversed(_UNITS))})"
_DIGIT = rf"(?:{'|'.join(_UNITS[:10])}|oh)"
_SPELT = re.compile(
    rf"\b({_WHOLE})(?:\s+point((?:\s+{_DIGIT})+))?(?=\s+(?:dollars?|euros?|cents?|percent|per cent)\b)",
    re.IGNORECASE,
)


def normalise_numbers(text: str) -> str:
    """`text` with clock times, dollar and euro amounts and percentages in their written form."""
    text = _SPELT.sub(_digits, text)
    text = _TIME_RANGE.sub(lambda m: _range(text, m), text)
    text = _TIME_AFTER_WORD.sub(lambda m: _time(text, m), text)
    text = _TIME_BEFORE_MERIDIEM.sub(lambda m: f"{int(m.group(1))}:{m.group(2)}", text)
    text = _DOLLARS.sub(lambda m: "$" + _amount(m.group(1), m.group(2) or m.group(3)), text)
    text = _EUROS.sub(lambda m: "€" + _amount(m.group(1), m.group(2)), text)
    return _PERCENT.sub(lambda m: f"{m.group(1)}%", text)


def _priced(text: str, match: re.Match[str]) -> bool:
    before = re.findall(r"[a-z']+", text[: match.start()].lower())
    return bool(before) and before[-1] in _PRICE_WORDS


def _range(text: str, m: re.Match[str]) -> str:
    if _priced(text, m):
        return m.group(0)
    return f"{m.group(1)} {int(m.group(2))}:{m.group(3)} {m.group(4)} {int(m.group(5))}:{m.group(6)}"


def _time(text: str, m: re.Match[str]) -> str:
    return m.group(0) if _priced(text, m) else f"{m.group(1)} {int(m.group(2))}:{m.group(3)}"


def _digits(m: re.Match[str]) -> str:
    whole = sum(_VALUE[word] for word in re.split(r"[-\s]+", m.group(1).lower()))
    if m.group(2) is None:
        return str(whole)
    decimals = "".join(str(_VALUE.get(word, 0)) for word in m.group(2).lower().split())  # "oh" is 0
    return f"{whole}.{decimals}"


def _amount(whole: str, cents: str | None) -> str:
    return f"{whole}.{int(cents):02d}" if cents is not None and int(cents) else whole
