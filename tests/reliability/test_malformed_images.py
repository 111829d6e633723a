"""Over 200 bad image files: each one gets an ImageError with a message (or, for bit flips that land
in pixel data, decodes to a valid image), and none crashes the process, hangs or eats memory.

The files are decoded in a child process under an address-space limit, so a crash in a C decoder
or a runaway allocation fails this test instead of taking pytest down.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import malformed_images
import pytest

pytestmark = pytest.mark.timeout(240)

ADDRESS_SPACE = 2 * 1024**3  # the child dies rather than use more (so the assertion below is real)
PER_FILE_S = 3.0
PEAK_RSS_MB = 400

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from assistant.images.errors import ImageError
    from assistant.images.safe_image import open_image

    results = []
    for path in sorted(Path(sys.argv[1]).iterdir()):
        started = time.perf_counter()
        try:
            decoded = open_image(path)
            outcome = {{"ok": True, "mode": decoded.image.mode, "size": decoded.image.size}}
        except ImageError as exc:
            outcome = {{"ok": False, "reason": exc.reason, "message": str(exc)}}
        except BaseException as exc:  # anything else is a bug: report it, keep going
            outcome = {{"ok": False, "reason": "UNEXPECTED", "message": repr(exc)}}
        outcome.update(name=path.name, seconds=time.perf_counter() - started)
        results.append(outcome)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (pytest, OCR models loaded)
    # across fork and exec, VmHWM belongs to this process image alone.
    status = Path("/proc/self/status").read_text()
    peak_mb = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM:")).split()[1]) / 1024
    print(json.dumps({{"results": results, "peak_mb": peak_mb}}))
    """
).format(limit=ADDRESS_SPACE)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("malformed")
    expected: dict[str, str] = {}
    for case in malformed_images.cases():
        assert case.name not in expected, f"duplicate case name {case.name}"
        (folder / case.name).write_bytes(case.data)
        expected[case.name] = case.expect
    return folder, expected


@pytest.fixture(scope="module")
def outcomes(corpus: tuple[Path, dict[str, str]]) -> dict[str, object]:
    folder, _ = corpus
    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS and /proc/self/status are Linux only")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, timeout=180,
        cwd=Path(__file__).resolve().parents[2],
    )
    # A segfault or an out-of-memory kill shows up here as a non-zero exit code.
    assert result.returncode == 0, f"decoder process died ({result.returncode}): {result.stderr[-2000:]}"
    return json.loads(result.stdout)


def test_there_are_at_least_200_bad_files(corpus: tuple[Path, dict[str, str]]) -> None:
    _, expected = corpus
    assert len(expected) >= 200
    names = " ".join(expected)
    kinds = ("empty.", "truncated-", "bitflip-", "huge-30k.png", "bomb-30000x30000", "wrong-", "frames-5000")
    for kind in kinds:
        assert kind in names


def test_every_bad_file_is_refused_with_a_message(
    corpus: tuple[Path, dict[str, str]], outcomes: dict[str, object]
) -> None:
    _, expected = corpus
    results = outcomes["results"]  # type: ignore[index]
    assert {r["name"] for r in results} == set(expected)
    unexpected = [r for r in results if r.get("reason") == "UNEXPECTED"]
    assert unexpected == [], unexpected[:5]
    accepted_bad = [r["name"] for r in results if r["ok"] and expected[r["name"]] == "refuse"]
    assert accepted_bad == []
    for r in results:
        if r["ok"]:  # a bit flip in pixel data: still a valid, bounded RGB image
            assert r["mode"] == "RGB" and max(r["size"]) <= 4096, r
        else:
            assert r["message"].startswith("Cannot use image ") and r["name"] in r["message"], r
            assert len(r["message"]) > len(r["name"]) + 40, r  # says what is wrong, not just "error"


def test_the_reasons_name_what_is_wrong(outcomes: dict[str, object]) -> None:
    by_name = {r["name"]: r for r in outcomes["results"]}  # type: ignore[index]
    assert by_name["empty.png"]["reason"] == "empty"
    assert by_name["huge-30k.png"]["reason"] == "too_many_pixels"
    assert by_name["bomb-30000x30000.png"]["reason"] == "too_many_pixels"
    assert by_name["bomb-9000x9000.png"]["reason"] == "too_many_pixels"
    assert "megapixels" in by_name["bomb-9000x9000.png"]["message"]
    assert by_name["frames-5000.gif"]["reason"] == "too_many_frames"
    assert by_name["frames-1000000.png"]["reason"] == "too_many_frames"
    assert by_name["wrong-report.jpg"]["reason"] == "unsupported"
    assert "PDF" in by_name["wrong-report.jpg"]["message"]
    assert "text file" in by_name["wrong-notes.png"]["message"]


def test_time_and_memory_stay_bounded(outcomes: dict[str, object]) -> None:
    results = outcomes["results"]  # type: ignore[index]
    slow = [(r["name"], round(r["seconds"], 2)) for r in results if r["seconds"] > PER_FILE_S]
    assert slow == []
    assert outcomes["peak_mb"] < PEAK_RSS_MB, f"peak RSS {outcomes['peak_mb']:.0f} MB"
