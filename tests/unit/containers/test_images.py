"""``choreo images prepare`` without Docker: names and aliases, build order, content keys,
what is kept or rebuilt, apt sources, the runtime image's layout, clean-up, and the CLI's
exit statuses for bad flags and a host without Docker."""

from __future__ import annotations

import asyncio
import struct
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from choreograph.cli.app import app
from choreograph.containers import images
from choreograph.containers.images import Alias, Existing
from choreograph.errors import BuildError, InputError

# --- names and aliases ----------------------------------------------------------------


def test_the_default_names_are_the_ones_the_builders_use() -> None:
    assert images.DEFAULT_IMAGES == {
        "debian": "debian:bookworm-slim",
        "go": "golang:1.26-bookworm",
        "node": "node:20-bookworm-slim",
        "python": "python:3.11-slim-bookworm",
        "runtime": "busybox:1.36-glibc",
    }
    assert all(images.reference_problem(name) is None for name in images.DEFAULT_IMAGES.values())


@pytest.mark.parametrize(
    ("text", "alias"),
    [
        ("golang:alpine=go", Alias("golang:alpine", "go")),
        ("golang=go", Alias("golang", "go")),
        ("localhost:5000/team/go:1.22=go", Alias("localhost:5000/team/go:1.22", "go")),
        ("ghcr.io/org/node-base:20.1_rc=node", Alias("ghcr.io/org/node-base:20.1_rc", "node")),
        (" python:3.11-slim = python ", Alias("python:3.11-slim", "python")),
        ("busybox:latest=runtime", Alias("busybox:latest", "runtime")),
        ("debian:bookworm-slim=debian", Alias("debian:bookworm-slim", "debian")),
    ],
)
def test_aliases_parse(text: str, alias: Alias) -> None:
    assert images.parse_alias(text) == alias


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("golang:alpine", "expected NAME=KIND"),
        ("=go", "expected NAME=KIND"),
        ("golang:alpine=", "expected NAME=KIND"),
        ("golang:alpine=rust", "unknown kind 'rust'; expected one of debian, go, node"),
        ("Golang:alpine=go", "lowercase PATH"),
        ("golang:al pine=go", "lowercase PATH"),
        ("golang:-x=go", "lowercase PATH"),
        ("golang@sha256:abcd=go", "cannot be given as a tag"),
        ("scratch=runtime", "`FROM scratch` needs no image"),
        ("bad_host.io:x/y=go", "not a valid registry host"),
        ("golang:1.26-bookworm=node", "is the default image of kind go"),
        ("debian:bookworm-slim=go", "is the default image of kind debian"),
        (f"{'a' * 256}=go", "at most 255 characters"),
    ],
)
def test_bad_aliases_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(InputError, match="--as") as raised:
        images.parse_alias(text)
    assert says in str(raised.value)


def test_one_alias_name_cannot_have_two_kinds() -> None:
    assert images.parse_aliases(["golang=go", "golang:latest=go"]) == [Alias("golang:latest", "go")]
    with pytest.raises(InputError, match="golang:latest is given two kinds, go and node"):
        images.parse_aliases(["golang=go", "golang:latest=node"])


def test_unknown_kinds_are_refused_and_duplicates_dropped() -> None:
    assert images.check_kinds(["go", "node", "go"]) == ["go", "node"]
    with pytest.raises(InputError, match="unknown image kind 'rust'"):
        images.check_kinds(["go", "rust"])


# --- order --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "order"),
    [
        (["go"], ["debian", "go"]),
        (["runtime"], ["runtime"]),
        (["python", "runtime"], ["debian", "python", "runtime"]),
        (["node", "debian"], ["debian", "node"]),
        (images.KINDS, ["debian", "go", "node", "python", "runtime"]),
    ],
)
def test_build_order_brings_in_and_puts_first_what_images_are_built_on(
    kinds: list[str], order: list[str]
) -> None:
    assert images.build_order(kinds) == order


def test_every_kind_comes_after_what_it_is_built_on() -> None:
    order = images.build_order(images.KINDS)
    for kind, bases in images.DEPENDS.items():
        assert all(order.index(base) < order.index(kind) for base in bases)


async def test_independent_images_build_together_and_dependents_wait() -> None:
    events: list[str] = []

    async def step(kind: str) -> None:
        events.append(f"start {kind}")
        await asyncio.sleep(0.05 if kind == "debian" else 0.01)
        events.append(f"end {kind}")

    await images._run_graph(images._graph(["go", "node", "runtime"]), step)
    assert events.index("start runtime") < events.index("end debian")  # in parallel
    for kind in ("go", "node"):
        assert events.index("end debian") < events.index(f"start {kind}")


async def test_the_first_failure_stops_the_rest_and_is_raised() -> None:
    cancelled: list[str] = []

    async def step(kind: str) -> None:
        if kind == "runtime":
            raise BuildError("runtime broke")
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(kind)
            raise

    with pytest.raises(BuildError, match="runtime broke"):
        await images._run_graph(images._graph(["go", "runtime"]), step)
    assert cancelled == ["debian"]


# --- keys and decisions -----------------------------------------------------------------

GO_FACTS = {"goroot": "/usr/local/go", "go": "go1.26.8", "base.debian": "sha256:aa"}


def test_the_content_key_is_stable_and_changes_with_every_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = images.content_key("go", GO_FACTS)
    assert key == images.content_key("go", dict(reversed(GO_FACTS.items())))
    changed = [
        images.content_key("go", {**GO_FACTS, "go": "go1.26.9"}),
        images.content_key("go", {**GO_FACTS, "goroot": "/opt/go"}),
        images.content_key("go", {**GO_FACTS, "base.debian": "sha256:bb"}),
        images.content_key("go", {**GO_FACTS, "dockerfile": "FROM x"}),
        images.content_key("node", GO_FACTS),
    ]
    monkeypatch.setattr(images, "RECIPE_VERSION", "next")
    changed.append(images.content_key("go", GO_FACTS))
    assert len({key, *changed}) == len(changed) + 1


@pytest.mark.parametrize(
    ("existing", "force", "decision"),
    [
        (None, False, "build"),
        (Existing("sha256:1", "k"), False, "up to date"),
        (Existing("sha256:1", "old"), False, "build"),
        (Existing("sha256:1", ""), False, "foreign"),
        (Existing("sha256:1", "k"), True, "build"),
        (Existing("sha256:1", ""), True, "build"),
    ],
)
def test_what_a_name_holds_decides_whether_to_build(
    existing: Existing | None, force: bool, decision: str
) -> None:
    assert images.decide(existing, "k", force) == decision


@pytest.mark.parametrize(
    ("existing", "force", "decision"),
    [
        (None, False, "tag"),
        (Existing("sha256:t", ""), False, "up to date"),
        (Existing("sha256:old", "k"), False, "tag"),
        (Existing("sha256:real", ""), False, "foreign"),
        (Existing("sha256:real", ""), True, "tag"),
    ],
)
def test_an_alias_never_replaces_a_foreign_image_unless_forced(
    existing: Existing | None, force: bool, decision: str
) -> None:
    assert images.decide_alias(existing, "sha256:t", force) == decision


def test_results_read_as_what_was_done() -> None:
    built = images.PreparedImage("go", "golang:1.26-bookworm", "built", seconds=23.4)
    assert built.describe() == "built golang:1.26-bookworm (go) in 23.4 s"
    alias = images.PreparedImage("go", "golang:alpine", "tagged")
    assert alias.describe() == "tagged golang:alpine: the go stand-in (golang:1.26-bookworm)"
    kept = images.PreparedImage("debian", "debian:bookworm-slim", "skipped", note="not ours")
    assert kept.describe() == "debian:bookworm-slim (debian): skipped; not ours"


# --- the host's apt sources ---------------------------------------------------------------

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no
"""

ONE_LINE = """\
# a comment
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main contrib
deb http://security.example/debian-security bookworm-security main
"""


def test_apt_sources_are_read_in_both_formats() -> None:
    assert images.parse_apt_sources(DEB822) == [
        ("http://deb.debian.org/debian", ["bookworm", "bookworm-updates"]),
        ("http://deb.debian.org/debian-security", ["bookworm-security"]),
    ]
    assert images.parse_apt_sources(ONE_LINE) == [
        ("http://mirror.example/debian/", ["bookworm"]),
        ("http://security.example/debian-security", ["bookworm-security"]),
    ]


@pytest.mark.parametrize(
    ("text", "mirrors"),
    [
        (DEB822, ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security")),
        (ONE_LINE, ("http://mirror.example/debian", "http://security.example/debian-security")),
        ("deb http://archive.ubuntu.com/ubuntu noble main", (images.DEFAULT_MIRROR, "")),
        ("deb http://other.example/debian trixie main", ("http://other.example/debian", "")),
        ("deb cdrom:[Debian]/ bookworm main", (images.DEFAULT_MIRROR, "")),
        ("", (images.DEFAULT_MIRROR, "")),
    ],
)
def test_the_hosts_own_mirror_serves_debootstrap(text: str, mirrors: tuple[str, str]) -> None:
    assert images.pick_mirrors(images.parse_apt_sources(text), "bookworm") == mirrors


def test_the_debian_image_gets_the_same_mirrors() -> None:
    facts = {"suite": "bookworm", "mirror": "http://m/debian", "security": "http://s/sec"}
    assert images._apt_sources_for_image(facts).splitlines() == [
        "deb http://m/debian bookworm main",
        "deb http://m/debian bookworm-updates main",
        "deb http://s/sec bookworm-security main",
    ]


# --- the runtime image ----------------------------------------------------------------------


def elf(*segment_types: int) -> bytes:
    """A 64-bit little-endian ELF header followed by program headers of these types."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x20, 64)  # program headers right after
    struct.pack_into("<HH", header, 0x36, 56, len(segment_types))
    table = b"".join(struct.pack("<I", t) + bytes(52) for t in segment_types)
    return bytes(header) + table


def test_only_a_binary_without_interpreter_counts_as_static() -> None:
    assert images.is_static_elf(elf(1, 1, 4))
    assert not images.is_static_elf(elf(6, 3, 1))  # PT_INTERP: needs ld.so
    assert not images.is_static_elf(b"#!/bin/sh\n")


def test_the_runtime_root_has_busybox_its_applets_users_and_tmp(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(elf(1))
    busybox.chmod(0o755)
    tarball = tmp_path / "rootfs.tar"
    images._runtime_rootfs(tarball, busybox, ["sh", "ls", "[", "busybox"])
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("etc/passwd")
        assert passwd is not None and passwd.read().startswith(b"root:x:0:0:")
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode & 0o111
    assert members["bin/busybox"].uid == 0
    for applet in ("sh", "ls", "["):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    assert "etc/group" in members


# --- clean-up --------------------------------------------------------------------------------


def test_the_work_folder_goes_even_when_the_build_fails() -> None:
    with pytest.raises(RuntimeError), images._work_folder() as folder:
        (folder / "rootfs").mkdir()
        raise RuntimeError("debootstrap failed")
    assert not folder.exists()


def test_a_folder_with_something_mounted_in_it_is_left_in_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Removing a root file system whose /dev is the host's would remove the host's."""
    monkeypatch.setattr(images, "_mounts_below", lambda folder: [f"{folder}/proc"])
    monkeypatch.setattr(images, "_unmount", lambda point: None)
    folder = tmp_path / "work"
    (folder / "proc").mkdir(parents=True)
    assert images._release(folder) is True
    assert (folder / "proc").exists()


def test_mount_points_below_a_folder_are_found(tmp_path: Path) -> None:
    assert images._mounts_below(tmp_path) == []
    assert "/proc" in images._mounts_below(Path("/proc"))


# --- the command ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--as", "golang:alpine"], "expected NAME=KIND"),
        (["--as", "Go:1=go"], "cannot be an image name"),
        (["--only", "rust"], "unknown image kind 'rust'"),
    ],
)
def test_bad_flags_exit_2_before_docker_is_asked(
    args: list[str], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "docker_problem", lambda: pytest.fail("Docker was asked"))
    result = CliRunner().invoke(app, ["images", "prepare", *args])
    assert result.exit_code == 2, result.output
    assert says in result.output


def test_no_docker_exits_4_saying_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = "the Docker engine is not reachable (no answer); start it with `dockerd`"
    monkeypatch.setattr(images, "docker_problem", lambda: problem)
    result = CliRunner().invoke(app, ["images", "prepare", "--only", "runtime"])
    assert result.exit_code == 4, result.output
    assert problem in result.output


async def test_aliases_given_to_prepare_are_checked_before_docker_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(images, "docker_problem", lambda: pytest.fail("Docker was asked"))
    with pytest.raises(InputError, match="cannot be an image name"):
        await images.prepare(["go"], also=[("Not/Valid", "go")])
