"""Registries: builder and runner ids → ``module:Class``, imported only when used.

Lazy import keeps ``choreo --help`` fast and lets a runner pull in heavy libraries
(pyroute2) without every other command paying for them.
"""

from __future__ import annotations

import importlib
from typing import Any

BUILDERS: dict[str, str] = {
    "exec:python": "choreograph.builders.exec_python:ExecPythonBuilder",
    "exec:node": "choreograph.builders.exec_node:ExecNodeBuilder",
    "exec:generic": "choreograph.builders.exec_generic:ExecGenericBuilder",
    "exec:go": "choreograph.builders.exec_go:ExecGoBuilder",
    "docker:go": "choreograph.builders.docker_go:DockerGoBuilder",
    "docker:node": "choreograph.builders.docker_node:DockerNodeBuilder",
    "docker:generic": "choreograph.builders.docker_generic:DockerGenericBuilder",
    "docker:python": "choreograph.builders.docker_python:DockerPythonBuilder",
}
RUNNERS: dict[str, str] = {
    "local:exec": "choreograph.runners.local_exec:LocalExecRunner",
    "local:netns": "choreograph.runners.local_netns:LocalNetnsRunner",
    "local:docker": "choreograph.runners.local_docker:LocalDockerRunner",
    "cluster:k8s": "choreograph.runners.cluster_k8s:ClusterK8sRunner",
}


def load(registry: dict[str, str], plugin_id: str) -> Any:
    """Instantiate the plugin registered under ``plugin_id`` (KeyError if unknown)."""
    module_name, _, attr = registry[plugin_id].partition(":")
    return getattr(importlib.import_module(module_name), attr)()
