"""How the emulator writes an answer on the wire: as it is, or with its fault.

The answer itself (status, headers, body, and the fault the schedule chose) is decided by
the emulator without I/O; here it becomes aiohttp's response, and a fault that is not an
HTTP answer (a reset, a truncated body, a stall, a slow drip) happens on the connection.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from kernel_async.testing._faults import Answer, FaultKind, http_fault_answer

__all__ = ["write_answer"]


async def write_answer(request: web.Request, answer: Answer) -> web.StreamResponse:
    """Answer ``request`` with ``answer``, its fault included."""
    if answer.fault is None:
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)
    return await _write_fault(request, answer)


async def _write_fault(request: web.Request, answer: Answer) -> web.StreamResponse:
    """Answer with ``answer.fault`` instead of (or on top of) the real response."""
    http = http_fault_answer(answer)
    if http is not None:
        return web.Response(status=http.status, headers=http.headers, body=http.body)
    fault, body = answer.fault, answer.body
    assert fault is not None
    if fault.kind is FaultKind.RESET:
        assert request.transport is not None
        request.transport.abort()
        raise asyncio.CancelledError  # nothing to send; aiohttp drops the connection quietly
    response = web.StreamResponse(status=answer.status, headers=answer.headers)
    response.content_length = len(body)
    await response.prepare(request)
    if fault.kind is FaultKind.TRUNCATED:
        await response.write(body[: len(body) // 2])
        assert request.transport is not None
        request.transport.abort()
        return response
    if fault.kind is FaultKind.STALL:
        await asyncio.sleep(fault.seconds)
        await response.write(body)
        return response
    # DRIP: the whole body, slowly.
    pieces = 10
    size = max(1, -(-len(body) // pieces))
    for start in range(0, max(len(body), 1), size):
        await response.write(body[start : start + size])
        await asyncio.sleep(fault.seconds / pieces)
    return response
