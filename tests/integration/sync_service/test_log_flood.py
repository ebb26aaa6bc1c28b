"""A peer sending garbage in a loop gets every frame answered, and a bounded log."""

from __future__ import annotations

import logging
import time

from choreograph.sync_service.refusal_log import LOGGED_EACH, SUMMARY_INTERVAL_S

BAD_FRAMES = 10_000


async def test_ten_thousand_bad_frames_make_a_bounded_number_of_log_lines(
    connect_client, service, eventually, caplog
):
    caplog.set_level(logging.DEBUG, logger="choreograph.sync_service")
    client = await connect_client()
    started = time.monotonic()
    for i in range(BAD_FRAMES):
        if i % 2:
            await client.send(f'{{"id":"{i}","barrier":{{"state":"s","target":"x"}}}}')
        else:
            await client.send("not json at all")
    answers = [await client.recv() for _ in range(BAD_FRAMES)]
    assert all(a["error"] for a in answers)
    await client.ws.close()
    await eventually(lambda: service.statistics()["connections"] == 0)
    elapsed = time.monotonic() - started

    assert service.statistics()["errors"] == BAD_FRAMES
    records = [r for r in caplog.records if r.name == "choreograph.sync_service"]
    # The first few each, at most one summary per interval, and one at disconnect.
    assert len(records) <= LOGGED_EACH + elapsed / SUMMARY_INTERVAL_S + 1 + 1, [
        r.getMessage() for r in records
    ]
    summaries = [r.getMessage() for r in records if "more requests refused" in r.getMessage()]
    refused_in_summaries = sum(
        int(m.split(" more")[0].rsplit(" ", 1)[1].replace(",", "")) for m in summaries
    )
    assert refused_in_summaries == BAD_FRAMES - LOGGED_EACH
    assert "barrier.target" in summaries[-1] and "frame is not JSON" in summaries[-1]
