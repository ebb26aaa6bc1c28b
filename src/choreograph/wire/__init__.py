"""The instance↔host contract: plain frozen dataclasses and JSON, no I/O.

Both sides of the contract (the SDK inside instances, and the host: sync service,
runners, outcomes) import these modules, so the format of each value is written once.
"""
