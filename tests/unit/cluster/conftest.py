"""A kubeconfig for the API client tests: a cluster nobody listens at (the tests replace
the client's calls), so ``Kube`` can be built without one."""

from __future__ import annotations

from pathlib import Path

import pytest

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)
