"""The response body, read up to ``max_response_bytes`` counted after decompression."""

from __future__ import annotations

import aiohttp

from kernel_async._errors import APIResponseTooLargeError
from kernel_async._headers import request_id

__all__ = ["read_capped"]


async def read_capped(response: aiohttp.ClientResponse, cap: int, url: str) -> bytes:
    """The body, decoded, counting the decoded bytes as they arrive; stop past ``cap``.

    ``response.content`` yields what aiohttp has already decompressed, in bounded pieces, so
    a small gzip body that inflates past the cap is stopped, not buffered.
    """
    encoded = response.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity")

    def too_large(body: str) -> APIResponseTooLargeError:
        return APIResponseTooLargeError(
            f"GET {url}: {body} over the {cap}-byte limit (AsyncKernel(max_response_bytes=...))",
            max_bytes=cap,
            request_id=request_id(response.headers),
            url=url,
        )

    declared = response.content_length
    if declared is not None and declared > cap and not encoded:
        # Refused unread only when Content-Length is the body's own size: for a compressed
        # body it counts the compressed bytes, which say nothing about the decoded size.
        response.close()  # do not read it, and do not reuse the connection
        raise too_large(f"the response body is {declared} bytes,")
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.readany():
        size += len(chunk)
        if size > cap:
            response.close()
            raise too_large("the decoded response body is" if encoded else "the response body is")
        chunks.append(chunk)
    return b"".join(chunks)
