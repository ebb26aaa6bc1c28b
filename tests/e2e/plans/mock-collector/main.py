"""Exports traces to the run's mock collectors ([[services]] kind = "mock-collector").

Each instance POSTs ``exports`` OTLP/HTTP JSON bodies of ``spans`` spans, round-robin over
``CHOREO_SERVICE_COLLECTOR_ADDRS``, and fails unless every answer has ``expect_status``:
a group given collectors of its own in another mode expects that mode's status.
"""

from __future__ import annotations

import http.client
import json
import os

from choreograph.sdk import RunEnv, invoke_map


def export(runenv: RunEnv) -> str | None:
    addrs = os.environ["CHOREO_SERVICE_COLLECTOR_ADDRS"].split(",")
    spans = [{"name": f"op-{k}"} for k in range(runenv.int_param("spans"))]
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
    expected = runenv.int_param("expect_status")
    for k in range(runenv.int_param("exports")):
        host, port = addrs[k % len(addrs)].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        if status != expected:
            return f"export {k} to {host}:{port} got {status}, expected {expected}"
    runenv.record_message(f"{len(addrs)} collectors answered {expected}")
    return None


if __name__ == "__main__":
    invoke_map({"export": export})
