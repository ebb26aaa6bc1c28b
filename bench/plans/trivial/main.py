"""The cheapest possible instance: start, connect to the sync service, succeed."""

from choreograph.sdk import RunEnv, invoke_map


def noop(runenv: RunEnv) -> None:
    return None


if __name__ == "__main__":
    invoke_map({"noop": noop})
