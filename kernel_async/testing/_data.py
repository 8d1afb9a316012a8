"""A deterministic, seeded generator of realistic invocations in their wire form."""

from __future__ import annotations

import hashlib
import json
import random
import string
import time
from datetime import datetime, timedelta
from typing import Any, Final

from kernel_async._timestamps import format_rfc3339_nano, rfc3339_to_epoch_ns

__all__ = ["deployment_id_for", "generate_invocations", "make_invocation"]

_APPS: Final = (
    ("web-scraper", ("scrape", "extract-links")),
    ("invoice-bot", ("download-invoices", "reconcile")),
    ("form-filler", ("fill-form", "submit-application")),
    ("price-watch", ("check-prices",)),
    ("login-checker", ("verify-login", "rotate-session")),
)
_VERSIONS: Final = ("1.0.0", "1.1.0", "1.2.3", "2.0.0-beta.1")
_STATUSES: Final = ("succeeded",) * 12 + ("failed",) * 4 + ("running",) * 2 + ("queued",) * 2
_FAILURES: Final = (
    ("timeout: page did not finish loading within 30s", "Navigation timed out"),
    ("Error: element #submit not found", "Selector not found"),
    ('{"error":"captcha","retryable":false}', "Blocked by a captcha"),
    ("net::ERR_NAME_NOT_RESOLVED at https://shop.example.test/", "DNS lookup failed"),
)
_ID_ALPHABET: Final = string.ascii_lowercase + string.digits
_NS: Final = 1_000_000_000


def deployment_id_for(app_name: str, version: str) -> str:
    """The emulator's deployment id for an app version (stable across runs)."""
    digest = hashlib.sha256(f"{app_name}@{version}".encode()).hexdigest()
    return f"dep_{digest[:20]}"


def _timestamp_ns(rng: random.Random, now_ns: int, span_ns: int) -> int:
    instant = now_ns - rng.randrange(1, span_ns)
    # Go's RFC3339Nano trims trailing zeros, so real data carries 0 to 9 fractional digits.
    precision = rng.choice((1, 1, 1, 1_000, 1_000_000, _NS))
    return instant - instant % precision


def generate_invocations(
    count: int, *, seed: int = 0, now: datetime | None = None, span: timedelta = timedelta(days=7)
) -> list[dict[str, Any]]:
    """Generate ``count`` invocations in the API's JSON form, deterministic for (seed, now).

    They start within ``span`` before ``now`` (default: the current time), cover every app,
    action, version and status, carry nanosecond timestamps with 0-9 fractional digits, JSON
    payloads, JSON outputs, and plain-text outputs for some failures.

    >>> from datetime import UTC
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> generate_invocations(2, seed=1, now=now) == generate_invocations(2, seed=1, now=now)
    True
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    now_ns = rfc3339_to_epoch_ns(now.isoformat()) if now is not None else time.time_ns()
    span_ns = max(span // timedelta(microseconds=1) * 1_000, 2)
    invocations = []
    for _ in range(count):
        app_name, actions = rng.choice(_APPS)
        action_name = rng.choice(actions)
        status = rng.choice(_STATUSES)
        started_ns = _timestamp_ns(rng, now_ns, span_ns)
        invocation: dict[str, Any] = {
            "id": "".join(rng.choices(_ID_ALPHABET, k=24)),
            "app_name": app_name,
            "version": rng.choice(_VERSIONS),
            "action_name": action_name,
            "payload": json.dumps(
                {"url": f"https://shop.example.test/item/{rng.randrange(10_000)}", "retries": 2},
                separators=(",", ":"),
            ),
            "started_at": format_rfc3339_nano(started_ns),
            "finished_at": None,
            "status": status,
        }
        if status in ("succeeded", "failed"):
            invocation["finished_at"] = format_rfc3339_nano(
                min(started_ns + rng.randrange(_NS // 2, 90 * _NS), now_ns)
            )
        if status == "succeeded":
            invocation["output"] = json.dumps(
                {"result": "success", "items": rng.randrange(50)}, separators=(",", ":")
            )
            invocation["status_reason"] = "Invocation completed successfully"
        elif status == "failed":
            output, reason = rng.choice(_FAILURES)
            invocation["output"] = output
            invocation["status_reason"] = reason
        invocations.append(invocation)
    return invocations


def make_invocation(**fields: Any) -> dict[str, Any]:
    """One invocation in the API's JSON form, for seeding the emulator in a test.

    Every required field has a plausible default; pass the ones your test cares about. The
    id is derived from the other fields unless given, and ``started_at`` accepts a datetime.

    >>> make_invocation(app_name="shop", status="failed")["app_name"]
    'shop'
    """
    started = fields.pop("started_at", "2026-01-01T00:00:00Z")
    finished = fields.pop("finished_at", None)
    wire: dict[str, Any] = {
        "app_name": "my-app",
        "version": "1.0.0",
        "action_name": "analyze",
        "status": "succeeded",
        "payload": "{}",
        "started_at": started.isoformat() if isinstance(started, datetime) else started,
        "finished_at": finished.isoformat() if isinstance(finished, datetime) else finished,
        **fields,
    }
    if "id" not in wire:
        digest = hashlib.sha256(json.dumps(wire, sort_keys=True).encode()).hexdigest()
        wire["id"] = f"inv_{digest[:20]}"
    return wire
