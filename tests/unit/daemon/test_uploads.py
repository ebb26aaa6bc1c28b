"""Uploaded archives: what is refused, and that nothing is left half-extracted."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from choreograph.daemon.uploads import UploadError, extract


def _archive(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    out.seek(0)
    return out


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, b""


def test_a_plan_folder_extracts(tmp_path: Path) -> None:
    archive = _archive(_file("manifest.toml", b"name='x'"), _file("sub/main.py"))
    extract(archive, tmp_path / "plan", 1 << 20, "plan archive")
    assert (tmp_path / "plan" / "manifest.toml").read_bytes() == b"name='x'"
    assert (tmp_path / "plan" / "sub" / "main.py").is_file()


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        (_file("../evil.py"), "'..'"),
        (_file("a/../../evil.py"), "'..'"),
        (_file("/etc/evil"), "absolute path"),
        (_special("link", tarfile.SYMTYPE, "../../etc/passwd"), "outside the archive"),
        (_special("link", tarfile.SYMTYPE, "/etc/passwd"), "absolute path"),
        (_special("sub/link", tarfile.SYMTYPE, "../../x"), "outside the archive"),
        (_special("hard", tarfile.LNKTYPE, "../x"), "outside the archive"),
        (_special("fifo", tarfile.FIFOTYPE), "device or fifo"),
        (_special("dev", tarfile.CHRTYPE), "device or fifo"),
    ],
)
def test_refused_members(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes], problem: str
) -> None:
    archive = _archive(_file("manifest.toml"), member)
    with pytest.raises(UploadError, match=problem):
        extract(archive, tmp_path / "plan", 1 << 20, "plan archive")
    assert not (tmp_path / "plan").exists()  # checked whole before anything is written
    assert not (tmp_path.parent / "evil.py").exists()


def test_a_link_inside_is_kept(tmp_path: Path) -> None:
    archive = _archive(_file("a.py"), _special("sub/b.py", tarfile.SYMTYPE, "../a.py"))
    extract(archive, tmp_path / "plan", 1 << 20, "plan archive")
    assert (tmp_path / "plan" / "sub" / "b.py").resolve() == (tmp_path / "plan" / "a.py")


def test_not_an_archive_and_a_bomb(tmp_path: Path) -> None:
    with pytest.raises(UploadError, match=r"not a readable tar\.gz"):
        extract(io.BytesIO(b"hello"), tmp_path / "a", 1 << 20, "plan archive")
    big = _archive(_file("zeros", b"\0" * (1 << 20)))
    with pytest.raises(UploadError, match="over the limit"):
        extract(big, tmp_path / "b", 1 << 16, "plan archive")
