"""The words of a transcript as decodes are compared: lower case, punctuation gone ("And so, my fellow
Americans." and "and so my fellow americans" are the same words). Live passes agree on these, a cut's
overlap is found with them, and the speech engine spots a phrase said twice or a prompt said back."""

from __future__ import annotations

import re

_NOT_WORD = re.compile(r"[^\w' ]+")


def transcript_words(text: str) -> list[str]:
    return _NOT_WORD.sub(" ", text.lower()).split()
