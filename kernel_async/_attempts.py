"""The attempts at one page: sending, retrying, waiting, and the key kept out of what is said.

:class:`PageAttempts` is mixed into :class:`~kernel_async._client.AsyncKernel`, which holds
the state it works on (the configuration, the transport, the shared throttle) and counts each
call for ``aclose()`` before handing it here. An attempt is a request and the reading of its
page; whether to try again, and when, is :func:`~kernel_async._retry.decide_retry`'s
decision, and the wait after a ``429`` or ``503`` holds back every request of the client (the
shared throttle). What the server echoed of the key is masked (:mod:`kernel_async._redact`)
before any error, note or log line says it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs
from yarl import URL

from kernel_async._errors import APIError, APITimeoutError, ClientClosedError
from kernel_async._headers import request_id as response_request_id
from kernel_async._models import Page
from kernel_async._options import NO_OPTIONS, CallOptions
from kernel_async._protocol import interpret_page_response
from kernel_async._redact import echoes_key, mask_error, mask_text, masked_response
from kernel_async._request_headers import RETRY_COUNT_HEADER
from kernel_async._retry import RetryDecision, RetryPolicy, decide_retry
from kernel_async._throttle import PastDeadline, Throttle
from kernel_async._transport_protocol import RawRequest, RawResponse

if TYPE_CHECKING:
    import random

    from kernel_async._config import ClientConfig
    from kernel_async._transport_protocol import Transport

__all__ = ["PageAttempts"]

_log = logging.getLogger("kernel_async")


class PageAttempts:
    """How :class:`~kernel_async._client.AsyncKernel` gets one page (see the module docs)."""

    if TYPE_CHECKING:
        # What the client sets up in its __init__.
        _config: ClientConfig
        _transport: Transport
        _first_attempt_headers: dict[str, str]
        _throttle: Throttle
        _random: random.Random

    async def _retried(
        self,
        loop: asyncio.AbstractEventLoop,
        url: URL,
        offset: int,
        policy: RetryPolicy,
        deadline_at: float | None,
        options: CallOptions,
    ) -> Page:
        """The attempts at one page, until one succeeds or the policy gives up."""
        retries = 0  # counted against the policy's budget
        attempts = 0  # made so far: the retry count header says how many before this one
        throttle = self._throttle
        while True:
            if throttle.until > loop.time():
                await self._wait_if_throttled(loop, deadline_at, url)
            if throttle.limit is None and not throttle.waiting:
                throttle.sending += 1  # the common case, without a coroutine: see turn()
                probe = False
            else:
                await self._turn(retries, deadline_at, url)
                probe = throttle.probing()
            try:
                page = await self._attempt(url, offset, attempts, deadline_at, options)
            except APIError as error:
                attempts += 1
                # Before any note or log line: what the error says must not show the key.
                mask_error(error, self._config.api_key.reveal())
                decision = self._decide(loop, error, 0 if probe else retries, policy, deadline_at)
                if probe and not decision.throttle:
                    # Only a pushback is free for a probe: anything else counts as ever.
                    decision = self._decide(loop, error, retries, policy, deadline_at)
                if decision.retry and decision.throttle:
                    # Before its place is free: the next request waits for the time asked.
                    now = loop.time()
                    throttle.pushed_back(now + decision.delay, now)
                throttle.done()
                if not decision.retry:
                    if decision.retryable:
                        error.add_note(f"kernel-async: not retried: {decision.reason}")
                    _log.debug("GET %s failed for good: %s", url, decision.reason)
                    raise
                if probe and decision.throttle:
                    # Let out to find how many the server takes after a pushback: its own
                    # pushback spends none of its retries (see kernel_async._throttle).
                    _log.info(
                        "GET %s pushed back (%s, request id %s) as a probe of the server's "
                        "limit; tried again, no retry spent: %s",
                        url,
                        type(error).__name__,
                        error.request_id,
                        decision.reason,
                    )
                else:
                    retries += 1
                    _log.info(
                        "GET %s failed (%s, request id %s); retry %d of %d: %s",
                        url,
                        type(error).__name__,
                        error.request_id,
                        retries,
                        policy.max_retries,
                        decision.reason,
                    )
                await self._pause(decision.delay)
            except BaseException:
                throttle.done()  # cancelled, or the client closed: the place is free
                raise
            else:
                throttle.done()
                throttle.answered(loop.time())
                return page

    def _decide(
        self,
        loop: asyncio.AbstractEventLoop,
        error: APIError,
        retries: int,
        policy: RetryPolicy,
        deadline_at: float | None,
    ) -> RetryDecision:
        return decide_retry(
            error,
            retries_done=retries,
            policy=policy,
            now=time.time(),
            time_left=None if deadline_at is None else deadline_at - loop.time(),
            random=self._random.random(),
        )

    async def _turn(self, retries: int, deadline_at: float | None, url: URL) -> None:
        """Wait for this request's turn after a pushback (see kernel_async._throttle)."""
        past: PastDeadline | None = None
        try:
            if deadline_at is None:
                await self._throttle.turn(retries)
                return
            async with asyncio.timeout_at(deadline_at):
                await self._throttle.turn(retries, deadline_at)
                return
        except TimeoutError:
            pass
        except PastDeadline as exc:
            past = exc
        # Raised outside the `except` blocks, so that nothing is chained to it.
        if past is not None:
            wait = past.until - asyncio.get_running_loop().time()
            raise APITimeoutError(
                f"GET {url}: the server asked this client to slow down for {wait:.2f} s more, "
                "past the deadline",
                limit="deadline",
                url=str(url),
            )
        raise APITimeoutError(
            f"GET {url}: the deadline passed while the request waited for its turn after "
            "the server asked this client to slow down",
            limit="deadline",
            url=str(url),
        )

    async def _wait_if_throttled(
        self, loop: asyncio.AbstractEventLoop, deadline_at: float | None, url: URL
    ) -> None:
        wait = self._throttle.until - loop.time()
        if wait <= 0:
            return
        if deadline_at is not None and loop.time() + wait >= deadline_at:
            raise APITimeoutError(
                f"GET {url}: the server asked this client to slow down for {wait:.2f} s more, "
                "past the deadline",
                limit="deadline",
                url=str(url),
            )
        await self._pause(wait)

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the client is closed meanwhile: then raise ClientClosedError at once."""
        try:
            async with asyncio.timeout(seconds):
                await self._transport.wait_closed()
        except TimeoutError:
            return  # slept the whole time, still open
        raise ClientClosedError(
            "the client was closed while the request waited to be sent (a backoff or rate limit)"
        )

    def _headers(self, retries: int, extra: Mapping[str, str]) -> Mapping[str, str]:
        """The headers of one attempt: the client's, a call's extra ones, the retry count."""
        if retries == 0 and not extra:
            return self._first_attempt_headers
        headers = dict(self._config.headers)
        if extra:
            # An extra header replaces the client's of the same name, whatever its case (as
            # in the official SDK); check_header has refused Authorization and the count.
            replaced = {name.lower() for name in extra}
            headers = {k: v for k, v in headers.items() if k.lower() not in replaced}
            headers.update(extra)
        headers[RETRY_COUNT_HEADER] = str(retries)
        return headers

    async def _attempt(
        self,
        url: URL,
        offset: int,
        retries: int,
        deadline_at: float | None,
        options: CallOptions = NO_OPTIONS,
    ) -> Page:
        loop = asyncio.get_running_loop()
        if deadline_at is not None and loop.time() >= deadline_at:
            raise APITimeoutError(
                f"GET {url}: the deadline passed before the attempt", limit="deadline", url=str(url)
            )
        request = RawRequest(
            url=url,
            headers=self._headers(retries, options.headers),
            timeout=self._config.timeout if options.timeout is None else options.timeout,
            max_response_bytes=self._config.max_response_bytes,
            proxy=self._config.proxy,
        )
        started = loop.time()
        if deadline_at is None:
            response = await self._transport.send(request)
        else:
            response = None
            try:
                # The transport's wait for a connection slot is outside the per-attempt
                # timeout but inside the deadline.
                async with asyncio.timeout_at(deadline_at):
                    response = await self._transport.send(request)
            except TimeoutError:
                pass
        if response is None:
            # Raised outside the `except` block, so that nothing is chained to it.
            raise APITimeoutError(
                f"GET {url}: the deadline passed during the attempt",
                limit="deadline",
                url=str(url),
            )
        # What the server sent is read as it is (pagination headers, Retry-After, the page);
        # what the client says about it is masked where the server echoed any part of the key
        # (see kernel_async._redact). A page and the debug line say only the request id, so
        # that is all a success masks (every response comes here: one short text is cheaper
        # to search than all the headers); an error quotes and carries the whole response,
        # so it is built from a copy with the key masked in all of it. The key is never held
        # in a local variable here: a traceback rendered with its locals shows this frame.
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "GET %s -> %d in %.1f ms (request id %s, retry %d)",
                url,
                response.status,
                (loop.time() - started) * 1000,
                self._masked(response_request_id(response.headers)),
                retries,
            )
        try:
            page = _interpret(response, offset)
        except APIError:
            if not echoes_key(response, self._config.api_key.reveal(), body=True):
                raise
        else:
            if page.request_id is not None:
                request_id = self._masked(page.request_id)
                if request_id != page.request_id:
                    page = attrs.evolve(page, request_id=request_id)
            return page
        # Outside the `except` block: the error built from the masked copy links no other.
        return _interpret(
            masked_response(response, self._config.api_key.reveal(), body=True), offset
        )

    def _masked(self, text: str | None) -> str | None:
        """``text`` with the API key masked (see kernel_async._redact)."""
        return None if text is None else mask_text(text, self._config.api_key.reveal())


def _interpret(response: RawResponse, offset: int) -> Page:
    return interpret_page_response(
        response.status,
        response.headers,
        response.body,
        offset=offset,
        reason=response.reason,
        url=response.url,
    )
