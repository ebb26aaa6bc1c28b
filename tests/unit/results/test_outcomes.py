from choreograph.plan.facts import InstanceEvent, InstanceExited, InstanceStarted
from choreograph.results.outcomes import OutcomeBook
from choreograph.wire.events import Event, EventKind


def _book() -> OutcomeBook:
    return OutcomeBook.for_groups({"a": 2, "b": 1})


def test_first_terminal_event_wins_whatever_the_channel() -> None:
    book = _book()
    first = book.apply(InstanceEvent("a/0", Event("failure", error="x"), "sync"))
    assert first is not None and first.status == "failure" and first.channel == "sync"
    # the same outcome arriving on stdout later, or a contradicting one, changes nothing
    assert book.apply(InstanceEvent("a/0", Event("failure", error="x"), "stdout")) is None
    assert book.apply(InstanceEvent("a/0", Event("success"), "stdout")) is None
    assert book.instances["a/0"].status == "failure"
    assert book.groups()[0].failed == 1


def test_exit_without_event_is_a_crash_with_status_and_stderr() -> None:
    book = _book()
    book.apply(InstanceStarted("b/0", 1, 0.0))
    out = book.apply(InstanceExited("b/0", -9, "last words\n", 1.0))
    assert out is not None and out.status == "crash"
    assert "killed by SIGKILL" in out.error and out.detail == "last words\n"
    out = _book().apply(InstanceExited("a/1", 3, "", 1.0))
    assert out is not None and "exit status 3" in out.error


def _own(kind: EventKind, key: str) -> Event:
    """An event of Choreograph's SDK: it names its instance."""
    return Event(kind, instance=key)


def test_exit_after_success_keeps_success() -> None:
    book = _book()
    book.apply(InstanceEvent("a/0", _own("success", "a/0"), "stdout"))
    assert book.apply(InstanceExited("a/0", 1, "", 1.0)) is None
    assert book.instances["a/0"].status == "success"
    assert book.instances["a/0"].returncode == 1


def test_stop_marks_only_unfinished() -> None:
    book = _book()
    book.apply(InstanceEvent("a/0", _own("success", "a/0"), "stdout"))
    stopped = book.stop_remaining("timeout after 5s")
    assert sorted(o.key for o in stopped) == ["a/1", "b/0"]
    assert all(o.error == "timeout after 5s" for o in stopped)
    # the SIGTERM that follows a stop does not turn 'stopped' into 'crash'
    assert book.apply(InstanceExited("a/1", -15, "", 2.0)) is None
    groups = {g.group: g for g in book.groups()}
    assert (groups["a"].ok, groups["a"].stopped, groups["b"].stopped) == (1, 1, 1)
    assert not book.success


def test_run_succeeds_only_when_all_succeed() -> None:
    book = _book()
    for key in ("a/0", "a/1"):
        book.apply(InstanceEvent(key, _own("success", key), "stdout"))
    assert not book.success
    book.apply(InstanceEvent("b/0", Event("success"), "sync"))
    assert book.success and book.all_final
    assert all(g.success for g in book.groups())


def test_unknown_instance_is_ignored() -> None:
    assert _book().apply(InstanceEvent("zzz/9", Event("success"), "sync")) is None


def test_unattributed_sync_event_deduplicates_with_stdout() -> None:
    # sdk-js/sdk-go publish {success_event: {group}} without an instance id
    book = _book()
    assert book.apply(InstanceEvent("", Event("success", group="a"), "sync")) is None
    out = book.apply(InstanceEvent("a/0", Event("success", group="a"), "stdout"))
    assert out is not None and out.status == "success"
    # the pooled copy was consumed: a/1 exiting silently is a crash, not a second success
    out = book.apply(InstanceExited("a/1", 1, "", 1.0))
    assert out is not None and out.status == "crash"


def test_unattributed_sync_event_decides_an_instance_whose_stdout_was_lost() -> None:
    book = _book()
    book.apply(InstanceEvent("", Event("failure", group="a", error="bad"), "sync"))
    out = book.apply(InstanceExited("a/1", -9, "", 1.0))
    assert out is not None and (out.status, out.error, out.channel) == ("failure", "bad", "sync")
    assert book.groups()[0].failed == 1 and book.groups()[0].crashed == 0


def test_unattributed_event_of_an_unknown_group_is_ignored() -> None:
    book = _book()
    book.apply(InstanceEvent("", Event("success", group="zzz"), "sync"))
    out = book.apply(InstanceExited("a/0", 0, "", 1.0))
    assert out is not None and out.status == "crash"
