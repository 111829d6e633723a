"""The shape of the code checks itself: the import-linter contracts in pyproject.toml (layers, Qt only in
the window, ML libraries only in the engines), no import circles, and a core that imports without Qt
or any ML library at run time (ARCHITECTURE.md, principle 1)."""

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import grimp

import assistant

CORE_MODULES = [
    "assistant.cli.main",
    "assistant.cli.ask",
    "assistant.cli.selftest",
    "assistant.settings",
    "assistant.models.remote_server",
    "assistant.prompt.conversation",
    "assistant.prompt.texts",
    "assistant.protocols",
    "assistant.history.store",
    "assistant.history.export",
    "assistant.models.catalog",
    "assistant.models.assembly",
    "assistant.models.gguf",
    "assistant.chat.session",
    "assistant.ui.chat.markdown_render",
    "assistant.host.messages",
    "assistant.host.client",
    "assistant.cli.transcribe",
    "assistant.audio.errors",
    "assistant.voice.speech_text",
    "assistant.prompt.attachments",
    "assistant.prompt.grounding",
    "assistant.chat.grounding_job",
    "assistant.images.safe_image",
    "assistant.cli.describe",
    "assistant.prompt.image_question",
    "assistant.images.kept",
    # The window process imports the engine host to start it: perception must load OCR lazily.
    "assistant.host.process",
    "assistant.host.perception",
    "assistant.host.benchmark",  # the first run's engine side: llama.cpp loads only inside a request
    "assistant.models.hardware",
    "assistant.models.fit",
    # The window and `ask` record shared images through it: numpy loads only when one is recorded.
    "assistant.chat.shared_images",
]
# cv2 (pulled in by rapidocr) also re-points Qt's plugin path when imported: engine process only.
FORBIDDEN = [
    "PySide6", "llama_cpp", "torch", "onnxruntime", "faster_whisper", "open_clip",
    "cv2", "rapidocr_onnxruntime",
]


def test_core_imports_no_gui_or_ml_library() -> None:
    code = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {CORE_MODULES!r}:
            importlib.import_module(name)
        print(",".join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"core pulled in: {result.stdout.strip()}"


ROOT = Path(assistant.__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    """`lint-imports` over the whole package (the contracts and why are in pyproject.toml)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_domain_has_its_place_in_the_layers() -> None:
    """A new package must be placed in the one-way flow, or the layers contract would not see it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [layers] = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "one-way"]
    placed = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    package = Path(assistant.__file__).parent
    domains = {f"assistant.{p.name}" for p in package.iterdir() if (p / "__init__.py").is_file()}
    domains |= {f"assistant.{p.stem}" for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert domains - placed == set()


def test_no_import_circles() -> None:
    """Between modules, counting imports inside functions and under TYPE_CHECKING: a lazy import that
    breaks a circle is still a circle."""
    graph = grimp.build_graph("assistant", exclude_type_checking_imports=False)
    circles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert circles == []


def test_the_circle_check_finds_a_circle() -> None:
    """The check above can fail: a lazy back-import between two modules is found."""
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    circles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert circles == [["p.a", "p.b", "p.c"]]


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm, without recursion (the graph has hundreds of modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
    return found
