"""Hostile inputs for the reliability sweep (issue 15, item 7): chat templates that try to run code,
FTS5 query syntax typed into search boxes, and file names built to confuse whatever handles them.

The template payloads are the CVE-2024-34359 kind (llama-cpp-python < 0.2.72 rendered a GGUF's
`tokenizer.chat_template` in a plain Jinja environment, so a model file could run commands): each one
tries to create MARKER, by os.popen, os.system, subprocess.Popen found through `__subclasses__`, an
import through `__builtins__`, `attr` filters with escaped underscores, and str.format. `control_render`
renders them in a *plain* Jinja environment in a child process first: most must create their marker
there, so a sandbox that lets nothing through is proven by the same payloads that work without it (a
payload list that could not run anything would prove nothing). Two more only burn CPU (loops nested
to 10^10 iterations): the answer must still come, with the ChatML fallback.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

# MARKER is replaced by an absolute path; every payload would create that file if it ran.
CODE_PAYLOADS = [
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ cycler.__init__.__globals__.__builtins__.open('MARKER', 'w').write('pwned') }}",
    "{{ lipsum.__globals__.__builtins__.__import__('os').system('touch MARKER') }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c(['touch', 'MARKER']).wait() }}{% endif %}{% endfor %}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{% if c.__name__ == 'catch_warnings' %}"
    "{{ c.__init__.__globals__['__builtins__']['__import__']('os').system('touch MARKER') }}{% endif %}"
    "{% endfor %}",
    "{{ (lipsum|attr('\\x5f\\x5fglobals\\x5f\\x5f'))['os'].system('touch MARKER') }}",
    "{{ cycler|attr('__init__')|attr('__globals__')|attr('__getitem__')('os')"
    "|attr('system')('touch MARKER') }}",
    "{% set g = joiner.__init__.__globals__ %}{{ g.os.system('touch MARKER') }}",
    "{% set x = namespace() %}{{ x.__class__.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ raise_exception.__globals__['os'].system('touch MARKER') }}",
    "{{ strftime_now.__globals__['os'].system('touch MARKER') }}",
    "{{ '{0.__init__.__globals__[os].system}'.format(cycler) }}"
    "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{% for m in messages %}{{ m.__class__.__init__.__globals__ }}{% endfor %}"
    "{{ lipsum.__globals__.os.popen('touch MARKER').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ lipsum.__globals__['__builtins__']['exec'](\"import os; os.system('touch MARKER')\") }}",
]
BURN_PAYLOADS = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
    "{% for c in 'x' * 10000000 %}{% for d in 'y' * 10000 %}{% endfor %}{% endfor %}",
]


def template_payloads(marker: Path) -> list[str]:
    """The 20 payloads with MARKER pointing at `marker` (a different file per payload is up to the caller)."""
    return [p.replace("MARKER", str(marker)) for p in CODE_PAYLOADS + BURN_PAYLOADS]


CONTROL = textwrap.dedent(
    """
    import json, os, sys, jinja2  # os: the stand-ins below see it in their globals, as llama-cpp-python's do
    results = []
    for template in json.loads(sys.stdin.read()):
        env = jinja2.Environment()  # what llama-cpp-python used before 0.2.72: no sandbox
        try:
            env.from_string(template).render(messages=[{"role": "user", "content": "hi"}], eos_token="",
                bos_token="", add_generation_prompt=True, raise_exception=lambda m: None,
                strftime_now=lambda f: "")
            results.append("rendered")
        except Exception as error:
            results.append(type(error).__name__)
    print(json.dumps(results))
    """
)


def control_render(templates: list[str], timeout_s: float = 60.0) -> list[str]:
    """Render code payloads in plain Jinja in a child process (they may run there: that is the point)."""
    done = subprocess.run([sys.executable, "-c", CONTROL], input=json.dumps(templates), capture_output=True,
                          text=True, timeout=timeout_s)
    return json.loads(done.stdout) if done.returncode == 0 else [done.stderr[-200:]] * len(templates)


# ---- FTS5 syntax -------------------------------------------------------------------------------------

# Seeded history: (title, message). Words the queries build on are rare on purpose.
HISTORY = [
    ("Quokka notes", "The quokka library opens at nine; bring the zebra crossing report."),
    ("Zebra crossing", "Zebra crossing near the harbour: repaint it before the festival."),
    ("Invoice 4471", "Invoice number 4471 was paid on Tuesday by bank transfer."),
    ("Café menu", "The café serves crème brûlée and naïve espresso on Sundays."),
    ("Shell commands", "Use rm -rf only with care; quote \"paths with spaces\" and (parentheses)."),
]
FTS_FRAGMENTS = [
    "AND", "OR", "NOT", "NEAR", "NEAR(", "NEAR(quokka zebra, 2)", "*", "^", "\"", "\"\"", "'", "(", ")", "()",
    ":", "-", "+", "{", "}", "{title text}:", "text:", "title:", "messages_fts", "rank", "bm25", "MATCH",
    "\\", "%", "_", "\x00", "\t", "\n", "😀", "ß", "İ", "ﬁ", "\u202e", "\u0301", "ö", "4471", "quokka",
    "zebra", "café", "crème", "rm", "-rf", "paths", "spaces", "'; DROP TABLE messages; --", "a" * 300, "x*",
    "*x", "q*", "\"quokka",
    "zeb", "ZEBRA", "Quokka", "...", "--", "/*", "*/", "SELECT", "%s", "{0}", "NULL", "0x00", "?", "!",
]
FTS_QUERIES = [
    "quokka", "Quokka zeb", "\"quokka", "quokka\"", "quokka AND zebra", "quokka OR zebra", "quokka NOT zebra",
    "NEAR(quokka zebra)", "quokka*", "*", "^quokka", "title:quokka", "{title}:quokka", "text:zebra", "(zebra",
    "zebra)", "\"\"", "'", "''", "café", "cafe", "crème brûlée", "4471", "invoice 4471", "rm -rf", "-rf",
    "\"paths with spaces\"", "(parentheses)", "'; DROP TABLE messages; --", "\x00", "quokka\x00zebra", "😀",
    "a" * 10_000, "NOT", "AND", "OR", "NEAR", "*zebra", "zebra:", ":", "\\", "%", "_", "ß", "\u202equokka",
]


def fts_queries(count: int, seed: int = 15) -> list[str]:
    """The hand-picked queries, then random mixtures of the fragments, `count` in all."""
    rng = random.Random(seed)
    out = list(FTS_QUERIES[:count])
    while len(out) < count:
        out.append(" ".join(rng.choice(FTS_FRAGMENTS) for _ in range(1 + rng.randrange(5))))
    return out


# ---- file names ----------------------------------------------------------------------------------------

# The most hostile first: the quick run takes the first few.
HOSTILE_NAMES = [
    "two\nlines",
    "<b>bold<b><img src=x onerror=alert(1)> &amp; <i>",
    "$(touch MARKER) `touch MARKER`",
    "\u202egnp.exe",  # right-to-left override: shows as "exe.png"
    "tab\there",
    "..\\..\\windows style",
    "-rf --help",
    "日本語のファイル",
    "emoji 😀 name",
    "e\u0301 combining",
    "name with 'quotes' and \"double\"",
    "%0A%2e%2e%2f encoded",
    " leading and trailing ",
    "a" * 200,
]


def hostile_name(index: int, marker: str) -> str:
    """Name `index` (MARKER: a file name in the working folder, since a name cannot hold a `/`)."""
    return HOSTILE_NAMES[index % len(HOSTILE_NAMES)].replace("MARKER", marker)
