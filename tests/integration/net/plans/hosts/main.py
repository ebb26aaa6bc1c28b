"""Test plan: each instance records what host it is (whoami), or just waits (sleep)."""

import json
import os
import socket
import time
from pathlib import Path

from choreograph.sdk import InitContext, RunEnv, invoke_map
from choreograph.sdk._network import interface_addresses


def whoami(runenv: RunEnv, ctx: InitContext) -> None:
    record = {
        "hostname": socket.gethostname(),
        "env_hostname": os.environ.get("HOSTNAME"),
        "subnet": runenv.test_subnet,
        "sidecar": runenv.test_sidecar,
        "data_ip": str(ctx.net_client.get_data_network_ip()),
        "interfaces": {k: str(v) for k, v in interface_addresses().items()},
        "sync_host": os.environ["SYNC_SERVICE_HOST"],
        "parent": Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode(errors="replace"),
    }
    (runenv.outputs_path / "whoami.json").write_text(json.dumps(record))
    ctx.sync_client.signal_and_wait("recorded", runenv.test_instance_count, timeout=60)


def sleep(runenv: RunEnv, ctx: InitContext) -> None:
    runenv.record_message("sleeping")
    time.sleep(300)


if __name__ == "__main__":
    invoke_map({"whoami": whoami, "sleep": sleep})
