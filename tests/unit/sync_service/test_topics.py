"""Topics: an append-only log per topic, and cursors that replay it then follow it."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from choreograph.sync_service.topics import Topic, Topics


async def _take(topic: Topic, n: int) -> list[str]:
    texts = []
    async with contextlib.aclosing(topic.follow()) as entries:
        async for entry in entries:
            texts.append(entry.text)
            if len(texts) == n:
                break
    return texts


def test_publish_numbers_messages_from_one():
    topic = Topic("t")
    assert [topic.publish(p) for p in ("a", "b", "c")] == [1, 2, 3]
    assert len(topic) == 3


def test_payload_is_serialised_once_in_both_forms():
    topic = Topic("t")
    topic.publish({"b": [1, None], "a": "é"})
    entry = topic._log[0]
    assert json.loads(entry.text) == {"b": [1, None], "a": "é"}
    assert entry.text == '{"b":[1,null],"a":"\\u00e9"}'  # compact, stable, ASCII
    assert json.loads(entry.quoted) == entry.text  # the string literal of the text


@pytest.mark.parametrize("payload", [float("nan"), float("inf"), {1j}, object()])
def test_payloads_that_are_not_json_are_refused(payload):
    topic = Topic("t")
    with pytest.raises((TypeError, ValueError)):
        topic.publish(payload)
    assert len(topic) == 0


async def test_follow_replays_history_then_delivers_live_messages():
    topic = Topic("t")
    for i in range(5):
        topic.publish(i)
    following = asyncio.create_task(_take(topic, 8))
    await asyncio.sleep(0.01)
    assert not following.done()
    for i in range(5, 8):
        topic.publish(i)
    assert await asyncio.wait_for(following, 1) == [str(i) for i in range(8)]


async def test_every_cursor_gets_every_message_at_its_own_pace():
    topic = Topic("t")
    cursors = [asyncio.create_task(_take(topic, 100)) for _ in range(10)]
    for i in range(100):
        topic.publish(i)
        if i % 7 == 0:
            await asyncio.sleep(0)
    results = await asyncio.wait_for(asyncio.gather(*cursors), 2)
    assert all(r == [str(i) for i in range(100)] for r in results)


async def test_subscriptions_are_counted_while_they_run():
    topic = Topic("t")
    following = asyncio.create_task(_take(topic, 1))
    await asyncio.sleep(0.01)
    assert topic.subscriptions == 1
    topic.publish("x")
    await following
    assert topic.subscriptions == 0


async def test_cancelling_a_waiting_cursor_leaves_nothing_behind():
    topic = Topic("t")
    tasks = [asyncio.create_task(_take(topic, 1)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert topic.subscriptions == 3 and len(topic._waiters) == 3
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert topic.subscriptions == 0 and topic._waiters == []


async def test_close_ends_cursors_after_the_history():
    topic = Topic("t")
    topic.publish(1)
    seen = []

    async def follow_all() -> None:
        async for entry in topic.follow():
            seen.append(entry.text)

    following = asyncio.create_task(follow_all())
    await asyncio.sleep(0.01)
    topic.close()
    await asyncio.wait_for(following, 1)
    assert seen == ["1"]


def test_registry_creates_each_topic_once_and_counts():
    topics = Topics()
    assert topics.get("a") is topics.get("a")
    topics.get("a").publish(1)
    topics.get("b").publish(2)
    topics.get("b").publish(3)
    assert topics.statistics() == {"topics": 2, "messages": 3, "subscriptions": 0}


async def test_topics_created_after_close_are_closed_too():
    topics = Topics()
    topics.close()
    topic = topics.get("late")
    topic.publish("x")
    assert await asyncio.wait_for(_take(topic, 5), 1) == ['"x"']
