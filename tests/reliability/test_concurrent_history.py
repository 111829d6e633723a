"""Issue 15, item 7 (the history's part): two windows and `assistant ask` writing one history at once,
three processes writing back to back through the store, export to places it cannot go, and the data
folder on a full disk (`assistant.bench.reliability_shared`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_rows import FULL, check

from assistant.bench import reliability_shared as shared

pytestmark = pytest.mark.timeout(900 if FULL else 300)


def test_three_processes_write_one_history_at_once(tmp_path: Path) -> None:
    check(shared.history_stress(FULL, tmp_path))


def test_two_windows_and_ask_answer_into_one_history_at_once(tmp_path: Path) -> None:
    check(shared.two_windows_and_a_cli(FULL, tmp_path))


def test_export_to_a_place_it_cannot_be_written(tmp_path: Path) -> None:
    check(shared.export_nowhere(tmp_path))


def test_the_data_folder_on_a_full_disk(tmp_path: Path) -> None:
    check(shared.full_disk(FULL, tmp_path))
