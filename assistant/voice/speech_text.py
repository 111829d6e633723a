"""Speakable sentences from a streamed Markdown answer (pure text work, used by `ui/voice/read_aloud.py`).

A sentence is handed out as soon as the text after it proves it ended: "3." may become "3.14", and
"Dr." or "e.g." end nothing. Fenced code blocks are skipped (nobody wants code read aloud) and
Markdown markers, links and URLs are reduced to what a listener needs.
"""

from __future__ import annotations

import re

_TERMINATOR = re.compile(r"[.!?…]+")
_CLOSERS = "\"'”’»)]*_"
_NEVER_END = {"e.g.", "i.e.", "dr.", "mr.", "mrs.", "ms.", "prof.", "st.", "jr.", "sr.", "vs.", "cf.",
              "approx.", "no.", "fig.", "eq.", "vol.", "p.", "pp.", "inc.", "ltd.", "co."}
_END_IF_CAPITAL = {"etc.", "al."}  # end a sentence only when a capital letter follows
_FENCES = ("```", "~~~")
_LINE_MARKERS = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+(?:\[[ xX]\]\s+)?|\d{1,3}[.)]\s+)+")
_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$|^\s*\|?[\s:|-]*-[\s:|-]*$")
_INLINE = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # image: its alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # link: its text
    (re.compile(r"<?https?://([^/\s>]+)[^\s>]*>?"), r"\1"),  # bare URL: just the host
    (re.compile(r"\*\*|__|~~|`"), ""),
    (re.compile(r"(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)"), ""),  # *emphasis*, _emphasis_
    (re.compile(r"\s*\|\s*"), ", "),  # table cells
    (re.compile(r"\s+"), " "),
]


def clean_for_speech(text: str, at_line_start: bool) -> str:
    """Markdown made speakable: markers dropped, links and URLs shortened; '' when nothing to say."""
    if at_line_start:
        if _RULE.match(text):
            return ""
        text = _LINE_MARKERS.sub("", text)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    text = text.strip(" ,")
    return text if any(ch.isalnum() for ch in text) else ""


def _ends_sentence(line: str, start: int, end: int, at_line_start: bool) -> bool:
    """Whether the terminator line[start:end] (already known to be followed by whitespace) ends one."""
    if line[start:end] != ".":
        return True  # ! ? … and runs like "?!" or "..."
    word_start = max(line.rfind(" ", 0, start), line.rfind("\t", 0, start)) + 1
    word = line[word_start:end].lstrip("\"'“‘(*_").lower()
    if word in _NEVER_END:
        return False
    following = line[end:].lstrip()
    if word in _END_IF_CAPITAL:
        return bool(following) and following[0].isupper()
    if len(word) == 2 and word[0].isalpha() and line[word_start:end].lstrip("\"'(")[0].isupper():
        return False  # an initial, as in "J. R. R. Tolkien"
    # "1." opening a line is a list number, not a one-word sentence.
    return not (at_line_start and word[:-1].isdigit() and not line[:word_start].strip())


class SentenceSplitter:
    """Cuts streamed Markdown into speakable sentences; not thread-safe (one caller feeds it)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buf = ""
        self._at_line_start = True
        self._in_code = False

    def feed(self, piece: str) -> list[str]:
        """Sentences completed by `piece`, cleaned for speech (often none)."""
        self._buf += piece
        out: list[str] = []
        while (sentence := self._next()) is not None:
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> list[str]:
        """Whatever is left at the end of the answer; the splitter is then ready for the next one."""
        out = self.feed("\n")
        self.reset()
        return out

    def _next(self) -> str | None:
        """One step: a sentence, '' (text consumed, nothing to say) or None (need more text)."""
        newline = self._buf.find("\n")
        if self._in_code or self._at_line_start:
            head = self._buf.lstrip(" \t")
            fence = head.startswith(_FENCES)
            if self._in_code or fence:
                if newline < 0:
                    return None
                self._take(newline + 1, line_start=True)
                self._in_code = not self._in_code if fence else self._in_code
                return ""
            if newline < 0 and any(f.startswith(head) for f in _FENCES):
                return None  # "`" or "``" at a line start may still become a fence
        line = self._buf if newline < 0 else self._buf[:newline]
        for match in _TERMINATOR.finditer(line):
            end = match.end()
            while end < len(line) and line[end] in _CLOSERS:
                end += 1
            if end == len(line) and newline < 0:
                return None  # the next character decides ("3." vs "3.14")
            if end < len(line) and not line[end].isspace():
                continue
            if _ends_sentence(line, match.start(), match.end(), self._at_line_start):
                return self._take(end, line_start=False)
        if newline < 0:
            return None
        return self._take(newline + 1, line_start=True)

    def _take(self, end: int, line_start: bool) -> str:
        text = clean_for_speech(self._buf[:end], self._at_line_start)
        self._buf = self._buf[end:]
        if not line_start:
            self._buf = self._buf.lstrip(" \t")
        self._at_line_start = line_start
        return text


__all__ = ["SentenceSplitter", "clean_for_speech"]
