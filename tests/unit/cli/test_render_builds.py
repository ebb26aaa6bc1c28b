"""A build's summary speaks its builder's language: Go modules and replacements, Node
packages, Python requirements, a Docker image."""

from __future__ import annotations

from choreograph.cli.render_builds import build_details, summary

GO = {
    "go": "go1.26.0",
    "tags": [],
    "replace": ["github.com/testground/sdk-go=/src/sdk-go"],
    "modules": [
        "example.com/plan",
        "github.com/testground/sdk-go v0.3.0",
        "golang.org/x/sync v0.7.0",
    ],
}


def test_a_go_build_lists_modules_and_replacements() -> None:
    details = dict(build_details("exec:go", GO))
    assert details["go"] == "go1.26.0"
    assert details["modules"] == "2: github.com/testground/sdk-go v0.3.0, golang.org/x/sync v0.7.0"
    assert details["replacements"] == "github.com/testground/sdk-go=/src/sdk-go"
    assert "dependencies" not in details
    assert "SDK only" not in str(details)
    assert summary("exec:go", GO).startswith("modules: 2")


def test_a_docker_go_build_shows_its_image() -> None:
    provenance = {"go": "", "replace": [], "base_images": {"build": "golang:1.26"}}
    details = dict(build_details("docker:go", provenance, image="choreo/plan:abc"))
    assert details["modules"] == "not recorded" and details["replacements"] == "none"
    assert details["image"] == "choreo/plan:abc" and details["base images"] == "golang:1.26"


def test_node_and_python_builds() -> None:
    node = dict(build_details("exec:node", {"node": "v22.1.0", "lockfile": True}))
    assert node["packages"] == "package-lock.json (npm ci)"
    python = dict(build_details("exec:python", {"requirements": []}))
    assert python["dependencies"] == "none (SDK only)"
    pinned = dict(build_details("docker:python", {"requirements": ["numpy==2.1"]}))
    assert pinned["dependencies"] == "numpy==2.1"
