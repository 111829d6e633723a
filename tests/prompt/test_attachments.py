"""Which dropped or picked paths may be attached: local regular files of a known kind, nothing else.

Every refusal must name the item and say why, and must never open it: a FIFO here would block any test
that tried to read it (the suite's timeout would catch that as a failure).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.prompt import attachments
from assistant.prompt.attachments import Attachment, AttachmentRefused, from_path, from_uri

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "Interview with Ana.wav"
    path.write_bytes(b"RIFF" + bytes(2000))  # content is never read here; only the name and size count
    return path


def test_a_local_recording_is_accepted_with_its_name_kind_and_size(clip: Path) -> None:
    attachment = from_path(clip)
    assert attachment == Attachment("audio", str(clip), "Interview with Ana.wav", 2004)
    assert attachment.kind_name == "recording"
    upper = clip.with_name("LOUD.MP3")
    upper.write_bytes(b"x")
    assert from_path(upper).kind == "audio"  # extensions are case-insensitive


def test_relative_and_home_paths_become_absolute(
    clip: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert from_path(clip.name).path == str(clip)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert from_path(f"~/{clip.name}").path == str(clip)
    odd = tmp_path / "notes:v2.wav"  # a colon in a file name is not a URL scheme
    odd.write_bytes(b"x")
    assert from_path("notes:v2.wav").path == str(odd)


def test_file_urls_are_decoded(clip: Path) -> None:
    encoded = "file://" + str(clip).replace(" ", "%20")
    assert from_uri(encoded).path == str(clip)
    assert from_uri(encoded.replace("file://", "file://localhost")).path == str(clip)
    assert from_uri(str(clip)).path == str(clip)  # some drops carry a plain path


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("https://example.com/talk.mp3", "it is a web address"),
        ("http://example.com/talk.mp3", "it is a web address"),
        ("data:audio/wav;base64,UklGRg==", "it is embedded data"),
        ("file://fileserver/share/talk.wav", "it is on another computer (fileserver)"),
        ("smb://fileserver/share/talk.wav", "smb: addresses are not files on this computer"),
        ("\\\\fileserver\\share\\talk.wav", "it is on a network share"),
        ("//fileserver/share/talk.wav", "it is on a network share"),
        ("file:////fileserver/share/talk.wav", "it is on a network share"),
    ],
)
def test_remote_items_are_refused_without_touching_the_network(item: str, reason: str) -> None:
    with pytest.raises(AttachmentRefused) as refused:
        from_uri(item)
    assert reason in str(refused.value)
    assert str(refused.value).startswith("Cannot attach ")


def test_urls_given_as_paths_are_refused_too() -> None:
    with pytest.raises(AttachmentRefused, match="web address"):
        from_path("https://example.com/talk.mp3")


def test_a_huge_data_url_gives_a_short_message() -> None:
    with pytest.raises(AttachmentRefused) as refused:
        from_uri("data:audio/wav;base64," + "A" * 1_000_000)
    assert len(str(refused.value)) < 200


def test_folders_even_named_like_audio_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "album.wav"
    folder.mkdir()
    with pytest.raises(AttachmentRefused, match="it is a folder"):
        from_path(folder)
    with pytest.raises(AttachmentRefused, match="it is a folder"):
        from_uri(f"file://{tmp_path}")


def test_a_fifo_is_refused_and_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)  # opening it for reading would block forever: no writer
    with pytest.raises(AttachmentRefused, match=r"pipe \(FIFO\)"):
        from_path(fifo)
    with pytest.raises(AttachmentRefused, match=r"pipe \(FIFO\)"):
        from_uri(f"file://{fifo}")


def test_devices_and_sockets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AttachmentRefused, match="it is a device"):
        from_path("/dev/null")
    with pytest.raises(AttachmentRefused, match="it is a device"):
        from_path("/dev/zero")  # endless: reading it would never finish
    link = tmp_path / "zero.wav"
    link.symlink_to("/dev/zero")  # a harmless name does not hide what it points at
    with pytest.raises(AttachmentRefused, match="it is a device"):
        from_path(link)
    path = tmp_path / "s.wav"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(AttachmentRefused, match="not a regular file"):
            from_path(path)
    finally:
        server.close()


def test_a_link_to_a_recording_is_accepted(clip: Path, tmp_path: Path) -> None:
    link = tmp_path / "latest.wav"
    link.symlink_to(clip)
    assert from_path(link).size == clip.stat().st_size


def test_missing_empty_and_unknown_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(AttachmentRefused, match="does not exist"):
        from_path(tmp_path / "nothing.mp3")
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(AttachmentRefused, match=r"empty \(0 bytes\)"):
        from_path(empty)
    notes = tmp_path / "notes.xyz"
    notes.write_text("hello")
    with pytest.raises(AttachmentRefused) as refused:
        from_path(notes)
    assert ".xyz files are not supported" in str(refused.value) and "wav, " in str(refused.value)
    bare = tmp_path / "README"
    bare.write_text("hello")
    with pytest.raises(AttachmentRefused, match="files without an extension"):
        from_path(bare)
    with pytest.raises(AttachmentRefused, match="no file name"):
        from_path("  ")


def test_images_are_accepted_and_a_caller_may_still_opt_out(tmp_path: Path) -> None:
    photo = tmp_path / "receipt.png"
    photo.write_bytes(b"\x89PNG" + bytes(10))  # only the engine looks inside, and decides by content
    assert from_path(photo).kind == "image"
    with pytest.raises(AttachmentRefused, match="images are not supported yet"):
        from_path(photo, kinds=("audio",))
    assert ".png" in attachments.extensions_for(["image"])
    assert ".png" not in attachments.extensions_for(["audio"])


def test_an_unreadable_file_is_refused(clip: Path) -> None:
    """As an ordinary user (root may read any file, so as root the check runs as nobody)."""
    clip.chmod(0)
    try:
        if os.geteuid() != 0:
            with pytest.raises(AttachmentRefused, match="permission"):
                from_path(clip)
            return
        for folder in (clip.parent, *clip.parent.parents):  # nobody may walk to the file, not read it
            if folder.stat().st_mode & 0o001 == 0:
                folder.chmod(folder.stat().st_mode | 0o001)
        script = ("import sys; from assistant.prompt.attachments import from_path, AttachmentRefused\n"
                  "try:\n    from_path(sys.argv[1])\nexcept AttachmentRefused as error:\n    print(error)\n")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                 sys.executable, "-c", script, str(clip)],
                                capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        assert "permission" in result.stdout.lower(), result.stdout
    finally:
        clip.chmod(0o644)


def test_sizes_read_naturally() -> None:
    assert attachments.describe_size(10) == "1 KB"
    assert attachments.describe_size(840_000) == "840 KB"
    assert attachments.describe_size(12_345_678) == "12.3 MB"
    assert attachments.describe_size(3_200_000_000) == "3.2 GB"
