"""The emulator's data: invocations in the API's order, filtered as the API filters them.

The order is the one the walk relies on and the docs state: newest first by ``started_at``
(to the nanosecond), ties by id (a stable server order). Every change goes through
:class:`InvocationStore`, which logs it with the logical time it happened at, so tests can
compare what a client saw against what the data did.
"""

from __future__ import annotations

import bisect
import enum
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from kernel_async._timestamps import format_rfc3339_nano, rfc3339_to_epoch_ns
from kernel_async.testing._data import deployment_id_for

__all__ = [
    "Change",
    "ChangeKind",
    "InvocationStore",
    "Record",
    "SinceParser",
    "matched_throughout",
    "started_between",
]

SinceParser = Callable[[str], int]
"""Turns a ``since`` value into epoch nanoseconds, or raises ValueError (a 400)."""


class ChangeKind(enum.StrEnum):
    """What happened to the data."""

    INSERT = "insert"
    """An invocation appeared (started, or was reported late among older ones)."""
    DELETE = "delete"
    """An invocation disappeared."""
    STATUS = "status"
    """An invocation changed status, so it may enter or leave a ``status`` filter."""


@attrs.frozen(kw_only=True)
class Change:
    """One change to the emulator's data, as logged.

    Attributes:
        tick: How many data responses had been computed when it happened (the logical clock:
            it happened after response ``tick`` and before response ``tick + 1``).
        kind: What happened.
        id: The invocation's id.
        started_at_ns: Its ``started_at`` in epoch nanoseconds.
        status_before: Its status before (``None`` for an insert).
        status_after: Its status after (``None`` for a delete).
    """

    tick: int
    kind: ChangeKind
    id: str
    started_at_ns: int
    status_before: str | None
    status_after: str | None


@attrs.define
class Record:
    """One stored invocation: its sort key, wire form and encoded JSON."""

    sort_key: tuple[int, str]  # (-started_at ns, id): newest first, then id
    wire: dict[str, Any]
    encoded: bytes
    deployment_id: str

    @classmethod
    def of(cls, invocation: Mapping[str, Any]) -> Record:
        """Store ``invocation`` (its JSON form)."""
        wire = dict(invocation)
        started_ns = rfc3339_to_epoch_ns(wire["started_at"])
        return cls(
            sort_key=(-started_ns, str(wire["id"])),
            wire=wire,
            encoded=json.dumps(wire, separators=(",", ":")).encode(),
            deployment_id=deployment_id_for(str(wire["app_name"]), str(wire["version"])),
        )

    @property
    def started_at_ns(self) -> int:
        """``started_at`` in epoch nanoseconds."""
        return -self.sort_key[0]


class InvocationStore:
    """Invocations in the API's order, with filtering and a log of changes."""

    def __init__(self, invocations: Iterable[Mapping[str, Any]]) -> None:
        self.records: list[Record] = sorted(
            (Record.of(inv) for inv in invocations), key=lambda r: r.sort_key
        )
        self._cache: dict[tuple[str | int | None, ...], list[Record]] = {}
        self.tick = 0
        """Data responses computed so far (the logical clock of :class:`Change`)."""
        self.changes: list[Change] = []
        """Every change, in the order it happened."""

    def _log(self, kind: ChangeKind, record: Record, before: str | None, after: str | None) -> None:
        self._cache.clear()
        self.changes.append(
            Change(
                tick=self.tick,
                kind=kind,
                id=str(record.wire["id"]),
                started_at_ns=record.started_at_ns,
                status_before=before,
                status_after=after,
            )
        )

    def add(self, invocation: Mapping[str, Any]) -> None:
        """Add an invocation; it takes its place by ``started_at``."""
        record = Record.of(invocation)
        if any(r.wire["id"] == record.wire["id"] for r in self.records):
            raise ValueError(f"an invocation with id {record.wire['id']!r} already exists")
        bisect.insort(self.records, record, key=lambda r: r.sort_key)
        self._log(ChangeKind.INSERT, record, None, str(record.wire["status"]))

    def index_of(self, invocation_id: str) -> int:
        """The position of the invocation with this id in the unfiltered list."""
        for index, record in enumerate(self.records):
            if record.wire["id"] == invocation_id:
                return index
        raise KeyError(invocation_id)

    def remove(self, invocation_id: str) -> None:
        """Remove the invocation with this id (KeyError if there is none)."""
        record = self.records.pop(self.index_of(invocation_id))
        self._log(ChangeKind.DELETE, record, str(record.wire["status"]), None)

    def set_status(self, invocation_id: str, status: str, **fields: Any) -> None:
        """Change an invocation's status (and any other fields but id and ``started_at``)."""
        if {"id", "started_at"} & fields.keys():
            raise ValueError("an invocation's id and started_at never change")
        index = self.index_of(invocation_id)
        old = self.records[index]
        before = str(old.wire["status"])
        self.records[index] = Record.of({**old.wire, **fields, "status": status})
        self._log(ChangeKind.STATUS, self.records[index], before, status)

    def filter(self, query: Mapping[str, str], since_ns: SinceParser) -> list[Record]:
        """The records matching the query's filters, in order (cached until a change).

        Raises:
            ValueError: ``since`` is not a timestamp or duration the API takes.
        """

        def get(name: str) -> str | None:
            # Go's Query().Get: an empty value is the same as no filter.
            return query.get(name) or None

        app_name, version, action_name = get("app_name"), get("version"), get("action_name")
        deployment_id, status, query_text = get("deployment_id"), get("status"), get("query")
        raw_since = get("since")
        since = None if raw_since is None else since_ns(raw_since)
        key = (app_name, version, action_name, deployment_id, status, since, query_text)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        needle = query_text.lower() if query_text else None
        result = [
            r
            for r in self.records
            if (app_name is None or r.wire["app_name"] == app_name)
            and (version is None or r.wire["version"] == version)
            and (action_name is None or r.wire["action_name"] == action_name)
            and (deployment_id is None or r.deployment_id == deployment_id)
            and (status is None or r.wire["status"] == status)
            and (since is None or r.started_at_ns >= since)
            and (
                needle is None
                or any(needle in str(r.wire[f]).lower() for f in ("id", "app_name", "action_name"))
            )
        ]
        if len(self._cache) >= 64:  # a moving clock makes every `since` a new key
            self._cache.clear()
        self._cache[key] = result
        return result


def started_between(newer: Record | None, older: Record | None, fraction: float) -> str:
    """An RFC 3339 time strictly between two records' (newer first; ``None``: no bound).

    Raises:
        ValueError: the two are less than two nanoseconds apart.
    """
    high = newer.started_at_ns if newer is not None else None
    low = older.started_at_ns if older is not None else None
    if high is None and low is None:
        return format_rfc3339_nano(1_700_000_000_000_000_000)
    if high is None:
        assert low is not None
        return format_rfc3339_nano(low + 1 + int(fraction * 1_000_000_000))
    if low is None:
        return format_rfc3339_nano(high - 1 - int(fraction * 1_000_000_000))
    if high - low < 2:
        raise ValueError("no nanosecond left between these two invocations")
    return format_rfc3339_nano(low + 1 + int(fraction * (high - low - 2)))


def matched_throughout(
    initial: Sequence[Mapping[str, Any]], changes: Sequence[Change], *, status: str | None = None
) -> list[str]:
    """The ids a complete walk owes: those of ``initial`` that matched for the whole walk.

    Args:
        initial: The filtered list before the walk (``emulator.list_invocations(...)``).
        changes: The changes made during the walk (``emulator.changes[n:]``).
        status: The walk's ``status`` filter, if any: an invocation that moved to another
            status during the walk did not match throughout.

    Returns:
        The ids, in the API's order. A walk that delivers each exactly once, in this order
        among what it delivers, lost nothing that stayed.
    """
    gone = {
        change.id
        for change in changes
        if change.kind is ChangeKind.DELETE
        or (
            status is not None
            and change.kind is ChangeKind.STATUS
            and change.status_after != status
        )
    }
    return [str(item["id"]) for item in initial if item["id"] not in gone]
