"""Model answers (Markdown) to HTML that Qt's rich-text widgets can show safely.

Safety: the model's text is untrusted. Raw HTML is escaped (never interpreted), images become plain
links (so rendering never fetches anything), and only http/https/mailto links keep their target.
Streaming: an answer cut mid-stream may end inside a code fence; the fence is closed before rendering
so the partial code shows as code instead of as broken paragraphs.

`markdown` and `pygments` are imported on the first render, not at import time, so the window can
appear before they load.
"""

from __future__ import annotations

import functools
import html
import re
import threading
from typing import Any

# Links the user may click; everything else (javascript:, file:, data:, relative) loses its target.
SAFE_SCHEMES = ("http://", "https://", "mailto:")

LIGHT_STYLE = "default"
DARK_STYLE = "monokai"
LIGHT_CODE_BACKGROUND = "#f3f4f6"
DARK_CODE_BACKGROUND = "#272822"
LIGHT_CODE_FOREGROUND = "#1f2328"
DARK_CODE_FOREGROUND = "#f8f8f2"

_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
_CODE_BLOCK = re.compile(r'<pre><code(?: class="language-([^"]+)")?>(.*?)</code></pre>', re.DOTALL)

# A Python-Markdown instance is not thread-safe; one is built once (~5 ms) and reused under a lock.
_lock = threading.Lock()
_renderer: Any = None


def close_open_fence(text: str) -> str:
    """Append a closing fence when `text` ends inside a fenced code block (a stream cut mid-code)."""
    open_fence: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if not match:
            continue
        fence = match.group(1)
        if open_fence is None:
            open_fence = fence
        elif fence[0] == open_fence[0] and len(fence) >= len(open_fence) and not line.strip()[len(fence) :]:
            open_fence = None  # a closing fence has no info string after it
    if open_fence is None:
        return text
    return text + ("" if text.endswith("\n") else "\n") + open_fence + "\n"


def warm_up() -> None:
    """Import Markdown and Pygments and build the parser now, off the GUI thread (the window calls this
    on a thread once it is on screen): done lazily, the first answer's first token paid ~90 ms of CPU
    for it on the GUI thread, a stall the responsiveness sweep saw (issue 15); a thread holding the GIL
    in 5 ms slices leaves the event loop running."""
    to_html("*warm* `up`\n\n```python\npass\n```\n", False)


def to_html(markdown_text: str, dark: bool) -> str:
    """Render one message; safe for untrusted text and for text cut off mid-stream."""
    source = close_open_fence(markdown_text)
    global _renderer
    with _lock:
        if _renderer is None:
            _renderer = _build()
        _renderer.reset()
        body = _renderer.convert(source)
    body = _CODE_BLOCK.sub(lambda m: _code_block(html.unescape(m.group(2)), m.group(1) or "", dark), body)
    # Markdown tables come out bare; without a border QTextDocument draws a grid of loose words.
    return body.replace("<table>", '<table border="1" cellspacing="0" cellpadding="4">')


@functools.lru_cache(maxsize=256)
def _code_block(code: str, language: str, dark: bool) -> str:
    """One highlighted code block as a one-cell table (QTextDocument ignores a <div> background).

    Cached: while an answer streams, every earlier block is unchanged and costs nothing to re-render.
    The <pre> wraps, because a bubble has no horizontal scrollbar.
    """
    from pygments import highlight

    lexer = _lexer(language)
    inner = highlight(code, lexer, _formatter(dark)) if lexer is not None else html.escape(code)
    background = DARK_CODE_BACKGROUND if dark else LIGHT_CODE_BACKGROUND
    foreground = DARK_CODE_FOREGROUND if dark else LIGHT_CODE_FOREGROUND
    return (
        f'<table width="100%" cellpadding="8" cellspacing="0" bgcolor="{background}"'
        ' style="margin-top:4px; margin-bottom:4px"><tr><td>'
        f'<pre style="white-space: pre-wrap; margin:0; font-family: monospace; color: {foreground}">'
        f"{inner.rstrip()}</pre></td></tr></table>"
    )


@functools.lru_cache(maxsize=64)
def _lexer(language: str) -> Any:
    """Lexers by fence name, built once each (looking one up scans Pygments' registry)."""
    if not language:
        return None
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@functools.lru_cache(maxsize=2)
def _formatter(dark: bool) -> Any:
    """Inline colours (noclasses): QTextBrowser has no stylesheet for Pygments' CSS classes."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True, noclasses=True, style=DARK_STYLE if dark else LIGHT_STYLE)


def _build() -> Any:
    import markdown  # deferred: keeps window start-up lean
    from markdown.extensions import Extension
    from markdown.treeprocessors import Treeprocessor

    class SafeLinks(Treeprocessor):
        """Images become links (nothing is fetched to render); unsafe link targets are dropped."""

        def run(self, root: Any) -> None:
            for element in root.iter():
                if element.tag == "img":
                    source = element.get("src", "")
                    alt = element.get("alt", "") or source
                    element.clear()
                    element.tag = "a"
                    element.text = f"[image: {alt}]"
                    if source.lower().startswith(SAFE_SCHEMES):
                        element.set("href", source)
                elif element.tag == "a":
                    href = element.get("href", "")
                    if not href.lower().startswith(SAFE_SCHEMES):
                        element.attrib.pop("href", None)

    class Untrusted(Extension):
        """Model output is untrusted: raw HTML is shown as text, never interpreted."""

        def extendMarkdown(self, md: Any) -> None:  # Python-Markdown's API name
            md.preprocessors.deregister("html_block")
            md.inlinePatterns.deregister("html")
            md.treeprocessors.register(SafeLinks(md), "safe_links", 0)

    # No codehilite: fenced code comes out as escaped <pre><code> and is highlighted (and cached) above.
    return markdown.Markdown(
        extensions=["fenced_code", "tables", "nl2br", "sane_lists", Untrusted()],
        output_format="html",
    )


def escape_plain(text: str) -> str:
    """Plain text (e.g. the user's own question) as HTML that keeps line breaks."""
    return html.escape(text).replace("\n", "<br>")
