"""Which files the documents library reads, by extension, and what kind of parser each goes to.

The extension only routes a file: each parser checks the content (a PDF must start like one, a DOCX
must be a sound zip, a text file must not be binary), so a file with the wrong name is skipped with a
message, never misread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Kind = Literal["pdf", "docx", "markdown", "text", "html", "code"]

CODE_EXTENSIONS = (
    ".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".java", ".kt", ".kts", ".scala",
    ".go", ".rs", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".rb", ".php", ".swift", ".m", ".mm", ".lua",
    ".pl", ".pm", ".r", ".jl", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".sql", ".css", ".scss", ".less",
    ".toml", ".yaml", ".yml", ".json", ".ini", ".cfg", ".xml", ".gradle", ".cmake", ".dart", ".ex", ".exs",
    ".erl", ".hs", ".ml", ".clj", ".vue", ".svelte", ".zig", ".nim", ".f90", ".vb", ".groovy", ".tf",
)  # fmt: skip
EXTENSIONS: dict[str, Kind] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown",
    ".txt": "text", ".text": "text", ".rst": "text", ".log": "text", ".csv": "text", ".tsv": "text",
    ".org": "text", ".adoc": "text", ".tex": "text",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    **{ext: "code" for ext in CODE_EXTENSIONS},
}  # fmt: skip
# Names without a useful extension that are text all the same.
TEXT_NAMES = {"readme", "license", "licence", "copying", "authors", "changelog", "news", "todo", "makefile",
              "dockerfile", "notice", "install"}


def kind_of(path: str | Path) -> Kind | None:
    """The parser for `path` by its name, or None when the library does not read such files."""
    name = Path(path).name
    kind = EXTENSIONS.get(Path(name).suffix.lower())
    if kind is None and name.lower() in TEXT_NAMES:
        return "text"
    return kind


def supported_extensions() -> list[str]:
    """For a file dialog's filter: '.pdf', '.docx', '.md', ..."""
    return sorted(EXTENSIONS)
