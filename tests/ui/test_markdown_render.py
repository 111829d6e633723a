"""Markdown answers become safe, Qt-friendly HTML, even when cut off mid-stream."""

import subprocess
import sys
from pathlib import Path

import pytest

from assistant.ui.chat import markdown_render
from assistant.ui.chat.markdown_render import close_open_fence, escape_plain, to_html


@pytest.mark.parametrize("dark", [False, True])
def test_code_fence_is_highlighted_with_inline_colours(dark: bool) -> None:
    out = to_html("Try this:\n```python\ndef f(x):\n    return x < 2\n```\n", dark)
    assert "<pre" in out and "white-space: pre-wrap" in out
    assert 'style="color:' in out  # inline styles: QTextBrowser has no Pygments stylesheet
    assert "class=" not in out.split("<pre", 1)[1].split("</pre>", 1)[0].replace('class="codehilite"', "")
    assert "&lt;" in out  # the comparison inside code is escaped, not markup
    assert "bgcolor=" in out  # code blocks become a table cell with a background QTextDocument shows


def test_raw_html_from_the_model_is_shown_as_text() -> None:
    text = 'Hi <script>alert(1)</script> <b>bold?</b> <img src="http://x/y.png">\n\n<div>block</div>'
    out = to_html(text, False)
    assert "<script" not in out and "<img" not in out and "<div>" not in out and "<b>" not in out
    assert "&lt;script&gt;" in out and "&lt;div&gt;" in out


def test_links_keep_only_safe_targets_and_images_are_never_embedded() -> None:
    text = "[a](javascript:alert(1)) [b](https://example.org) [c](file:///etc/passwd) ![pic](http://e/x.png)"
    out = to_html(text, False)
    assert "javascript:" not in out and "file:" not in out
    assert '<a href="https://example.org">b</a>' in out
    assert "<img" not in out and "[image: pic]" in out


def test_unclosed_fence_mid_stream_renders_as_code() -> None:
    partial = "Here is the code:\n```python\nimport os\nfor name in os.listdir('.'):\n    print(name"
    out = to_html(partial, False)
    assert "<pre" in out
    assert "```" not in out  # no stray fence characters as paragraph text
    assert "listdir" in out.split("<pre", 1)[1]


def test_close_open_fence() -> None:
    assert close_open_fence("a\n```\nb\n```\n") == "a\n```\nb\n```\n"
    assert close_open_fence("a\n```py\nb") == "a\n```py\nb\n```\n"
    # a fence of another kind does not close the open one
    assert close_open_fence("~~~~\nx\n```\n") == "~~~~\nx\n```\n~~~~\n"
    assert close_open_fence("plain text") == "plain text"


def test_tables_lists_and_single_newlines() -> None:
    out = to_html("| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n\nline one\nline two", False)
    assert "<table" in out and "<td>1</td>" in out
    assert "<li>one</li>" in out
    assert "line one<br" in out  # chat answers break lines where the model did


def test_user_text_is_escaped_plainly() -> None:
    assert escape_plain("a <b>\nc & d") == "a &lt;b&gt;<br>c &amp; d"


def test_a_five_kilobyte_answer_reuses_the_parser_and_its_highlighted_code() -> None:
    """What keeps a streaming re-render cheap: the parser is built once, and a code block that is
    already highlighted is not highlighted again. (The time per render is `assistant bench
    reliability`'s figure, "5 KB answer rendered as Markdown", not this test's.)"""
    text = (
        "## Notes\nSome **bold** text with `code` and a [link](https://example.org).\n\n"
        "```python\nfor i in range(10):\n    print(i * i)\n```\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n"
    )
    text = (text * (5000 // len(text) + 1))[:5000]
    to_html(text, False)  # the first call builds the parser
    parser = markdown_render._renderer
    highlighted = markdown_render._code_block.cache_info()
    out = to_html(text, False)  # the same answer re-rendered, as every streaming update does
    again = markdown_render._code_block.cache_info()
    assert markdown_render._renderer is parser
    assert again.misses == highlighted.misses and again.hits - highlighted.hits == out.count("bgcolor=") > 10


def test_import_does_not_load_markdown_or_pygments() -> None:
    """The window imports this module at start-up; the parsers load on the first render."""
    code = ("import sys, assistant.ui.chat.markdown_render;"
            "print('markdown' in sys.modules, 'pygments' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert run.stdout.strip() == "False False"
