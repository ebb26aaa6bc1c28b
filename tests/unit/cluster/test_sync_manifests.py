"""The in-cluster sync service's manifests: one replica of the given image, the token from
the run's Secret, the tokenless networks on its command line, and labels that keep its pod
out of the runner's watch of instance pods."""

from __future__ import annotations

from choreograph.cluster import sync_manifests as m
from choreograph.cluster.pods import RUN_LABEL, run_tag


def test_the_deployment_runs_one_replica_with_the_token_from_the_secret() -> None:
    body = m.deployment_manifest(
        "run-1", "choreograph/sync-service:abc", 5050, ["10.244.0.0/16", "fd00::/64"],
        cpu="100m", memory="64Mi", history_mib=256,
    )  # fmt: skip
    spec = body["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "choreograph/sync-service:abc"
    args = container["args"]
    assert args[:4] == ["--host", "0.0.0.0", "--port", "5050"]
    assert args.count("--tokenless-from") == 2 and "fd00::/64" in args
    (env,) = container["env"]
    assert env["name"] == "CHOREO_SYNC_TOKEN"
    assert env["valueFrom"]["secretKeyRef"] == {"name": m.SECRET, "key": m.TOKEN_KEY}
    assert container["readinessProbe"]["tcpSocket"] == {"port": 5050}
    assert pod["automountServiceAccountToken"] is False
    # Its pod is not an instance: the runner selects instance pods by the run label.
    labels = spec["template"]["metadata"]["labels"]
    assert RUN_LABEL not in labels and labels[m.LABEL] == run_tag("run-1")
    assert spec["selector"]["matchLabels"] == m.selector("run-1")


def test_the_secret_and_the_service() -> None:
    secret = m.secret_manifest("t0ken")
    assert secret["stringData"] == {m.TOKEN_KEY: "t0ken"} and secret["kind"] == "Secret"
    service = m.service_manifest("run-1", 5050)
    assert service["spec"]["selector"] == m.selector("run-1")
    assert service["spec"]["ports"][0]["port"] == 5050
