"""kernel-async in a FastAPI app: one client for the app's lifetime, handed to handlers.

    pip install -e '.[examples]'
    KERNEL_API_KEY=... uvicorn examples.fastapi_app:app

- ``GET /invocations.ndjson?status=failed`` streams every matching invocation as NDJSON. The
  first page is fetched before the response starts, so an upstream error is a JSON 401, 502...
  An error after that ends the stream with one ``{"error": ...}`` line. If the client hangs
  up, the walk stops and its requests are cancelled.
- ``GET /invocations?limit=20&offset=0`` returns one page, with the API's pagination headers.
- ``GET /invocations/events?app_name=...`` follows invocations as they start and change
  status, as Server-Sent Events (one ``event:`` per watch event). The first poll is made
  before the response starts, so its error is a JSON 401, 502... When the browser goes away,
  the watch stops: nothing polls for a client that left.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from kernel_async import (
    APIStatusError,
    AsyncKernel,
    InvocationEvent,
    InvocationStatus,
    KernelError,
    Page,
)

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client (one connection pool) for the whole app, closed on shutdown.
    async with AsyncKernel() as kernel:
        app.state.kernel = kernel
        yield


app = FastAPI(title="invocations", lifespan=lifespan)


def get_kernel(request: Request) -> AsyncKernel:
    kernel: AsyncKernel = request.app.state.kernel
    return kernel


Kernel = Annotated[AsyncKernel, Depends(get_kernel)]


@app.exception_handler(ValueError)
async def bad_argument(_request: Request, exc: ValueError) -> JSONResponse:
    # kernel-async checks arguments before sending anything: that is the caller's mistake.
    return JSONResponse({"detail": str(exc)}, status_code=422)


def upstream_error(exc: KernelError) -> tuple[int, dict[str, str | None]]:
    # A client error of ours (a 4xx upstream) keeps its status; anything else is a 502.
    status = exc.status_code if isinstance(exc, APIStatusError) and exc.status_code < 500 else 502
    return status, {"detail": str(exc), "request_id": getattr(exc, "request_id", None)}


@app.exception_handler(KernelError)
async def upstream_failed(_request: Request, exc: KernelError) -> JSONResponse:
    status, body = upstream_error(exc)
    return JSONResponse(body, status_code=status)


def ndjson(page: Page) -> str:
    return "".join(json.dumps(invocation.to_dict()) + "\n" for invocation in page)


@app.get("/invocations.ndjson")
async def stream_invocations(
    kernel: Kernel,
    status: InvocationStatus | None = None,
    app_name: str | None = None,
    since: str | None = None,
) -> StreamingResponse:
    # list() checks the filters now, so a bad one is a 422 before anything is sent.
    listing = kernel.invocations.list(status=status, app_name=app_name, since=since)
    pages = listing.pages()
    try:
        # The first page before the response starts: its error (a wrong key, a 5xx) still
        # becomes a status, through upstream_failed. After it, the status line is sent.
        first = await anext(pages, None)
    except BaseException:
        await listing.aclose()
        raise

    async def lines() -> AsyncIterator[str]:
        # When the client disconnects, the server cancels this generator; leaving
        # `async with` then cancels and awaits the walk's requests.
        async with listing:
            if first is None:
                return
            yield ndjson(first)
            try:
                async for page in pages:
                    # Let the server run before the next write: a write that failed because
                    # the client left is noticed there, and cancels this generator, instead
                    # of every following write failing (and being logged) in turn.
                    await asyncio.sleep(0)
                    yield ndjson(page)
            except KernelError as exc:
                # Too late for a status: end the stream with one error line instead.
                log.warning("the invocation stream ended early: %s", exc)
                _status, body = upstream_error(exc)
                yield json.dumps({"error": body}) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@app.get("/invocations")
async def one_page(
    kernel: Kernel,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: InvocationStatus | None = None,
) -> list[dict[str, str | None]]:
    page = await kernel.invocations.list_page(limit=limit, offset=offset, status=status)
    response.headers["X-Has-More"] = "true" if page.has_more else "false"
    response.headers["X-Next-Offset"] = str(page.next_offset or 0)
    response.headers["X-Offset"] = str(page.offset)
    if page.limit is not None:
        response.headers["X-Limit"] = str(page.limit)
    if page.request_id is not None:
        response.headers["X-Request-Id"] = page.request_id
    return [invocation.to_dict() for invocation in page]


def server_sent(event: InvocationEvent) -> str:
    data = {
        "kind": event.kind,
        "previous_status": event.previous_status,
        "invocation": event.invocation.to_dict(),
    }
    # https://html.spec.whatwg.org/multipage/server-sent-events.html: "event:" names it,
    # "data:" carries it (JSON has no newline here), a blank line ends it.
    return f"event: {event.kind}\ndata: {json.dumps(data)}\n\n"


@app.get("/invocations/events")
async def invocation_events(
    kernel: Kernel,
    app_name: str | None = None,
    status: InvocationStatus | None = None,
    since: str | None = None,
    interval: Annotated[float, Query(ge=0.1, le=60)] = 2.0,
) -> StreamingResponse:
    # watch() checks the arguments now: a bad one is a 422 before anything is sent.
    watch = kernel.invocations.watch(
        app_name=app_name, status=status, since=since, interval=interval
    )
    try:
        # The first poll before the response starts: its error (a wrong key, a 5xx) still
        # becomes a status. A browser's EventSource gives up on a 401, but reconnects to a
        # 200 stream that ends, and would ask upstream again, with the same wrong key.
        first = await watch.poll()
    except BaseException:
        await watch.aclose()
        raise

    async def events() -> AsyncIterator[str]:
        # The watch polls in this generator's task and starts none of its own. When the
        # browser disconnects, the server cancels the generator (in a poll, or in the wait
        # between two); leaving `async with` stops the watch.
        async with watch:
            try:
                for event in first:
                    yield server_sent(event)
                async for event in watch:
                    yield server_sent(event)
            except KernelError as exc:
                # A poll failed after the client's retries: tell the browser, which may
                # reconnect (with a since) to carry on.
                log.warning("the invocation events ended: %s", exc)
                _status, body = upstream_error(exc)
                yield f"event: error\ndata: {json.dumps(body)}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
