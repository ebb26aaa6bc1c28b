"""Typed params and their defaults: every value is read with its type and written to
`params.json` in the instance's outputs, so a run shows exactly what the plan saw."""

from __future__ import annotations

import json

from choreograph.sdk import RunEnv, invoke_map


def typed(runenv: RunEnv) -> str | None:
    seen = {
        "count": runenv.int_param("count"),
        "ratio": runenv.float_param("ratio"),
        "verbose": runenv.bool_param("verbose"),
        "greeting": runenv.string_param("greeting"),
        "interval_s": runenv.duration_param("interval").total_seconds(),
        "layout": runenv.json_param("layout"),
        "label": runenv.string_param("label") if runenv.is_param_set("label") else None,
    }
    (runenv.outputs_path / "params.json").write_text(json.dumps(seen, sort_keys=True))
    runenv.record_message(json.dumps(seen, sort_keys=True))
    if seen["count"] < 0:
        return f"count must not be negative, got {seen['count']}"
    return None


if __name__ == "__main__":
    invoke_map({"typed": typed})
