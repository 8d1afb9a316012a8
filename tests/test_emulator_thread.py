"""The emulator serving from a thread with a loop of its own, for code that runs on no loop.

These tests are sync, as the tests of the pytest plugin's ``kernel_emulator`` in a sync test
are: the caller talks to the emulator over TCP with urllib, from threads, never from a loop.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from kernel_async.testing import KernelEmulator, make_invocation
from kernel_async.testing._in_thread import serving_in_thread

from conftest import NOW


def get(emulator: KernelEmulator, query: str = "") -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{emulator.url}invocations{query}",
        headers={"Authorization": f"Bearer {emulator.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body: list[dict[str, Any]] = json.load(response)
        return body


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kernel-emulator"]


def test_it_serves_a_caller_on_no_loop_and_leaves_nothing_behind() -> None:
    with serving_in_thread(KernelEmulator(count=30, seed=3, now=NOW)) as emulator:
        assert len(emulator_threads()) == 1
        assert [i["id"] for i in get(emulator, "?limit=100")] == [
            i["id"] for i in emulator.invocations
        ]
        emulator.add_invocation(make_invocation(id="inv_new", started_at=NOW))
        assert get(emulator, "?limit=1")[0]["id"] == "inv_new"
    assert emulator_threads() == []
    with pytest.raises(urllib.error.URLError):  # closed: nothing listens there any more
        get(emulator)


def test_an_emulator_that_cannot_listen_raises_in_the_callers_thread() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = KernelEmulator(count=0, port=port)
        with pytest.raises(OSError, match="in use"), serving_in_thread(busy):
            pytest.fail("never served")
    assert emulator_threads() == []


def test_an_error_of_a_change_is_raised_in_the_thread_that_made_it() -> None:
    with serving_in_thread(KernelEmulator(count=0)) as emulator:
        with pytest.raises(KeyError):
            emulator.remove_invocation("inv_missing")
        emulator.add_invocation(make_invocation(id="inv_1"))
        with pytest.raises(ValueError, match="already exists"):
            emulator.add_invocation(make_invocation(id="inv_1"))
        assert [i["id"] for i in emulator.list_invocations()] == ["inv_1"]


class HeldEmulator(KernelEmulator):
    """Holds its loop in the middle of computing a response, until the test lets it go.

    ``now()`` is read while a response with ``since`` is computed, after the request was
    admitted and before the data is filtered: the one place a change could land inside a
    response rather than between two.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.holding = threading.Event()
        self.release = threading.Event()
        self.hold = False

    def now(self) -> datetime:
        if self.hold:
            self.hold = False
            self.holding.set()
            self.release.wait(30)
        return super().now()


def test_a_change_from_another_thread_lands_between_two_responses() -> None:
    with serving_in_thread(HeldEmulator(count=0, now=NOW)) as emulator:
        emulator.add_invocation(make_invocation(id="inv_old", started_at=NOW))
        emulator.hold = True
        answers: list[list[dict[str, Any]]] = []
        reader = threading.Thread(target=lambda: answers.append(get(emulator, "?since=1h")))
        reader.start()
        assert emulator.holding.wait(30)  # the response is being computed
        writer = threading.Thread(
            target=emulator.add_invocation, args=(make_invocation(id="inv_new", started_at=NOW),)
        )
        writer.start()
        # The change waits for the response to be computed: it cannot land inside it.
        writer.join(0.5)
        landed_inside = not writer.is_alive()
        emulator.release.set()
        reader.join(30)
        writer.join(30)
        assert not landed_inside
        assert [i["id"] for i in answers[0]] == ["inv_old"]
        # Logged after the response it waited for, by the emulator's logical clock.
        assert [(c.id, c.tick) for c in emulator.changes] == [("inv_old", 0), ("inv_new", 1)]
        assert {i["id"] for i in get(emulator, "?since=1h")} == {"inv_old", "inv_new"}
