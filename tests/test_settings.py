import dataclasses
import json
from pathlib import Path

from assistant.settings import LoadedSettings, Settings, load_settings, read_settings, save_settings


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "settings.json"
    settings = Settings(model="smol", temperature=0.2, theme="dark")
    save_settings(settings, path)
    assert load_settings(path) == settings
    assert list(path.parent.iterdir()) == [path], "no temp file left behind"


def test_broken_or_hostile_files_fall_back_to_defaults_with_a_message_and_a_copy(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    for content in ["{not json", "[1, 2]", json.dumps({"temperature": "hot"})]:
        path.write_text(content)
        loaded = read_settings(path)
        # The file existed, so the first-run panel was shown once: a damaged file does not bring it back.
        assert loaded.settings == dataclasses.replace(Settings(), first_run_done=True)
        assert loaded.problem is not None and "damaged" in loaded.problem
        assert loaded.backup is not None and loaded.backup.name in loaded.problem
        assert loaded.backup.read_text() == content and path.read_text() == content  # nothing reset
    assert read_settings(tmp_path / "missing.json") == LoadedSettings(Settings())


def test_one_bad_value_keeps_all_the_others(tmp_path: Path) -> None:
    """Regression (issue 15): one value of the wrong type used to reset every setting to its default."""
    path = tmp_path / "settings.json"
    save_settings(Settings(system_prompt="Answer like a pirate.", theme="dark", threads=3), path)
    raw = json.loads(path.read_text())
    raw["context_size"] = "lots"
    path.write_text(json.dumps(raw))
    loaded = read_settings(path)
    assert loaded.settings.system_prompt == "Answer like a pirate." and loaded.settings.theme == "dark"
    assert loaded.settings.threads == 3 and loaded.settings.context_size == Settings().context_size
    assert loaded.problem is not None and "context_size" in loaded.problem


def test_values_are_clamped_and_unknown_keys_ignored(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"temperature": 9, "context_size": 10, "theme": "neon", "future": 1}))
    loaded = load_settings(path)
    assert loaded.temperature == 2.0
    assert loaded.context_size == 512
    assert loaded.theme == "light"


def test_failed_save_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    save_settings(Settings(model="old"), path)
    # A directory where the temp file's replace target is cannot be written over: the save fails...
    bad = tmp_path / "dir_target"
    bad.mkdir()
    (bad / "child").write_text("x")
    try:
        save_settings(Settings(model="new"), bad)
    except OSError:
        pass
    else:  # pragma: no cover - os.replace onto a non-empty directory always fails
        raise AssertionError("expected OSError")
    # ...and neither file is touched, nor a temp file left over.
    assert load_settings(path).model == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir_target", "settings.json"]
