"""Facts → instance, group and run outcomes. Pure: no I/O, no clock.

An instance's outcome is its first terminal event (success, failure, crash), whichever
channel (stdout or ``run_events``) delivered it first; later terminal events for the same
instance are ignored, so nothing is counted twice. An instance that exits without one is
a crash, with its exit status and the tail of its stderr.

One exception, Testground's rule for the runners that follow it (``published_only``: the
container runners): Testground's local:docker and cluster:k8s count an instance as
successful only from a success event *published on* ``run_events`` (they subscribe to that
topic and count nothing else; its local:exec collected no outcomes at all, so under our
process runners stdout decides). A foreign SDK's success logged on stdout alone (sdk-go's
``RecordSuccess`` publishes only once a sync client is attached, which a plain
``TestCaseFn`` never does) is therefore held until its ``run_events`` twin arrives; an
instance that exits with it unconfirmed is a failure (Testground's ``_integrations`` case
``issue-1349-silent-failure``). Failures and crashes need no confirmation: Testground fails
a run whose groups are not all successful either way. An instance that was still
running when the run was stopped (timeout, interrupt, fail-fast) is ``stopped`` with the
reason. A run succeeds only when every instance of every group succeeded.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any, Literal

from choreograph.plan.facts import Fact, InstanceEvent, InstanceExited, InstanceStarted, RunnerNote
from choreograph.wire.events import Event

Status = Literal["pending", "running", "success", "failure", "crash", "stopped"]
FINAL: frozenset[str] = frozenset({"success", "failure", "crash", "stopped"})


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"


@dataclass
class InstanceOutcome:
    key: str
    group: str
    status: Status = "pending"
    error: str = ""
    detail: str = ""
    returncode: int | None = None
    channel: str = ""
    """Which channel decided the outcome: stdout, sync, exit or stop."""
    stderr_tail: str = ""
    """The last lines the instance wrote to stderr (a Go panic's message lands there)."""
    unconfirmed: Event | None = None
    """A foreign success logged on stdout whose ``run_events`` twin is not in yet."""

    @property
    def final(self) -> bool:
        return self.status in FINAL


@dataclass(frozen=True)
class GroupOutcome:
    group: str
    total: int
    ok: int
    failed: int
    crashed: int
    stopped: int

    @property
    def success(self) -> bool:
        return self.ok == self.total


@dataclass
class OutcomeBook:
    """Tracks every instance of a run; ``apply`` returns the outcome when a fact made it final.

    Foreign SDKs publish events on ``run_events`` without saying which instance sent them
    (only the group), and log the same event on stdout. The two copies are matched per
    group, whichever comes first: a ``run_events`` copy without its stdout twin waits in
    the group's pool, a stdout copy without its ``run_events`` twin waits in the group's
    debts, and a later twin cancels the waiting one. Every foreign terminal event on
    stdout is matched, even one that came after its instance's outcome was decided (sdk-js
    records a success after a recorded failure). An instance that exits without a stdout
    outcome takes its group's oldest pooled event: its stdout was lost, but it did report.
    Without the debts, a ``run_events`` copy arriving after its stdout twin would stay
    pooled and be handed to another instance that crashed silently.
    """

    instances: dict[str, InstanceOutcome] = field(default_factory=dict)
    unattributed: dict[str, list[Event]] = field(default_factory=dict)
    """Per group: foreign ``run_events`` terminal events whose stdout twin is not in yet."""
    published_only: bool = False
    """Testground's rule for its container runners: a foreign SDK's success counts only
    once published on ``run_events`` (see the module docstring). Off for runners whose
    Testground counterpart collected no outcomes (``local:exec``): there stdout decides."""
    owed: dict[str, list[tuple[Event, str]]] = field(default_factory=dict)
    """Per group: foreign stdout terminal events whose ``run_events`` twin is not in yet,
    with the instance that logged them."""

    @classmethod
    def for_groups(cls, groups: dict[str, int], *, published_only: bool = False) -> OutcomeBook:
        book = cls(published_only=published_only)
        for group, count in groups.items():
            for index in range(count):
                key = f"{group}/{index}"
                book.instances[key] = InstanceOutcome(key=key, group=group)
        return book

    def apply(self, fact: Fact) -> InstanceOutcome | None:
        if isinstance(fact, RunnerNote):
            return None
        if isinstance(fact, InstanceEvent) and not fact.key:
            event = fact.event
            if not (event.terminal and event.group in self._groups()):
                return None
            debtor = _take_twin(self.owed.get(event.group, []), event)
            if debtor is None:
                self.unattributed.setdefault(event.group, []).append(event)
                return None
            return self._confirm(self.instances[debtor])
        outcome = self.instances.get(fact.key)
        confirmed = True
        if outcome is not None and _foreign_stdout_outcome(fact):
            assert isinstance(fact, InstanceEvent)
            if _take_twin(self.unattributed.get(outcome.group, []), fact.event) is None:
                self.owed.setdefault(outcome.group, []).append((fact.event, fact.key))
                confirmed = False
        if outcome is None or outcome.final:
            if outcome is not None and isinstance(fact, InstanceExited):
                outcome.returncode = fact.returncode
                outcome.stderr_tail = fact.stderr_tail
            return None
        if isinstance(fact, InstanceStarted):
            outcome.status = "running"
            return None
        if isinstance(fact, InstanceEvent):
            event = fact.event
            if not event.terminal or outcome.unconfirmed is not None:
                return None
            if event.kind == "success" and not confirmed and self.published_only:
                outcome.unconfirmed = event
                return None
            outcome.status = "failure" if event.kind == "failure" else event.kind  # type: ignore[assignment]
            outcome.error = event.error
            outcome.detail = event.stacktrace
            outcome.channel = fact.channel
            return outcome
        outcome.returncode = fact.returncode
        outcome.stderr_tail = fact.stderr_tail
        if outcome.unconfirmed is not None:
            outcome.unconfirmed = None
            outcome.status = "failure"
            outcome.error = (
                "recorded success on stdout only, never on the run's run_events topic "
                "(the SDK had no sync client): Testground counts only published outcomes"
            )
            outcome.channel = "stdout"
            return outcome
        pooled = self.unattributed.get(outcome.group)
        if pooled:
            event = pooled.pop(0)
            outcome.status = event.kind  # type: ignore[assignment]
            outcome.error, outcome.detail, outcome.channel = event.error, event.stacktrace, "sync"
            return outcome
        outcome.status = "crash"
        outcome.error = f"exited without an outcome event ({describe_exit(fact.returncode)})"
        outcome.detail = fact.stderr_tail
        outcome.channel = "exit"
        return outcome

    def _confirm(self, outcome: InstanceOutcome) -> InstanceOutcome | None:
        """The ``run_events`` twin of ``outcome``'s stdout success came in."""
        event = outcome.unconfirmed
        if event is None or outcome.final:
            return None
        outcome.unconfirmed = None
        outcome.status = "success"
        outcome.error, outcome.detail, outcome.channel = event.error, event.stacktrace, "stdout"
        return outcome

    def _groups(self) -> set[str]:
        return {o.group for o in self.instances.values()}

    def stop_remaining(self, reason: str) -> list[InstanceOutcome]:
        """Mark every instance without a final outcome as stopped, for ``reason``."""
        changed = []
        for outcome in self.instances.values():
            if not outcome.final:
                outcome.status = "stopped"
                outcome.error = reason
                outcome.channel = "stop"
                changed.append(outcome)
        return changed

    def groups(self) -> list[GroupOutcome]:
        by_group: dict[str, list[InstanceOutcome]] = {}
        for outcome in self.instances.values():
            by_group.setdefault(outcome.group, []).append(outcome)
        return [
            GroupOutcome(
                group=group,
                total=len(items),
                ok=sum(o.status == "success" for o in items),
                failed=sum(o.status == "failure" for o in items),
                crashed=sum(o.status == "crash" for o in items),
                stopped=sum(o.status in ("stopped", "pending", "running") for o in items),
            )
            for group, items in by_group.items()
        ]

    @property
    def all_final(self) -> bool:
        return all(o.final for o in self.instances.values())

    @property
    def success(self) -> bool:
        return all(o.status == "success" for o in self.instances.values())


def _take_twin(waiting: list[Any], event: Event) -> str | None:
    """Remove the first entry of ``waiting`` (events, or ``(event, instance)`` debts) that
    is ``event``'s twin; return its instance ("" for a bare event), None when none is."""
    for index, entry in enumerate(waiting):
        candidate, key = entry if isinstance(entry, tuple) else (entry, "")
        if (candidate.kind, candidate.error) == (event.kind, event.error):
            del waiting[index]
            return str(key)
    return None


def _foreign_stdout_outcome(fact: Fact) -> bool:
    """A terminal event a foreign SDK logged on stdout: its ``run_events`` twin carries
    no instance, so the two must be matched by the book."""
    return (
        isinstance(fact, InstanceEvent)
        and fact.channel == "stdout"
        and fact.event.terminal
        and not fact.event.instance
    )
