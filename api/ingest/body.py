"""The request body as a stream of decoded pieces: gzip undone on the fly, size capped.

The limit (``MAX_CONTENT_LENGTH``) applies to the decoded body, as InfluxDB does, so a small
gzip body cannot expand into an unbounded one; going over it raises werkzeug's
:class:`~werkzeug.exceptions.RequestEntityTooLarge` (413).

Quart reads the whole request body as fast as the network delivers it, whether or not the
view keeps up; :class:`StreamingRequest` and :class:`StreamingHTTPConnection` add back-pressure
(the server stops reading while a few MiB are waiting for a view that streams the body), so
that a body much larger than memory can be ingested. They take effect once the app uses them::

    app.request_class = StreamingRequest
    app.asgi_http_class = StreamingHTTPConnection
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterator

from quart import current_app, request
from quart.asgi import ASGIHTTPConnection
from quart.typing import ASGIReceiveCallable
from quart.wrappers import Request
from quart.wrappers.request import Body
from werkzeug.exceptions import RequestEntityTooLarge

from api.errors import ApiError

__all__ = [
    "HIGH_WATER_BYTES",
    "PIECE_BYTES",
    "StreamingBody",
    "StreamingHTTPConnection",
    "StreamingRequest",
    "body_chunks",
    "check_encoding",
]

HIGH_WATER_BYTES = 4 << 20
"""Unread bytes at which the server stops reading the body of a streaming view."""

PIECE_BYTES = 1 << 18
"""Largest piece handed on at once (and how much of a gzip body is inflated at a time)."""

_GZIP = ("gzip", "x-gzip")


def check_encoding() -> bool:
    """True for a gzip body, False for an identity one; 415 for anything else."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in _GZIP:
        return True
    if encoding in ("", "identity"):
        return False
    raise ApiError(
        415,
        "unsupported-content-encoding",
        "Unsupported Media Type",
        f"the Content-Encoding {encoding!r} is not supported: send gzip or no encoding",
    )


async def body_chunks() -> AsyncIterator[bytes]:
    """The decoded request body, piece by piece, never more than the limit in total."""
    gzip = check_encoding()
    limit: int | None = current_app.config.get("MAX_CONTENT_LENGTH")
    inflater = _Inflater() if gzip else None
    total = 0
    async for raw in request.body:
        for start in range(0, len(raw), PIECE_BYTES):  # the server may hand over a lot at once
            part = memoryview(raw)[start : start + PIECE_BYTES]
            for piece in inflater.feed(part) if inflater is not None else (part,):
                total += len(piece)
                if limit is not None and total > limit:
                    raise RequestEntityTooLarge()
                if piece:
                    yield bytes(piece)
    if inflater is not None:
        inflater.close()


class _Inflater:
    """Streaming gzip decoding, concatenated members included."""

    def __init__(self) -> None:
        self._state = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._in_member = False

    def feed(self, data: bytes | memoryview) -> Iterator[bytes]:
        try:
            while data:
                self._in_member = True
                yield self._state.decompress(data, PIECE_BYTES)
                if self._state.eof:
                    data = self._state.unused_data
                    self._state = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    self._in_member = False
                else:
                    data = self._state.unconsumed_tail
        except zlib.error as exc:
            raise ApiError(
                400, "malformed-body", "Malformed body", f"the body is not valid gzip: {exc}"
            ) from None

    def close(self) -> None:
        """Refuse a body that stops in the middle of a gzip member."""
        if self._in_member:
            raise ApiError(400, "malformed-body", "Malformed body", "the gzip body is truncated")


# -- back-pressure ------------------------------------------------------------------------------


class StreamingBody(Body):
    """A request body that holds the receiving side back while a streaming reader lags."""

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self._streaming = False
        self._room = asyncio.Event()
        self._room.set()

    def __aiter__(self) -> StreamingBody:
        self._streaming = True
        return self

    async def __anext__(self) -> bytes:
        data = await super().__anext__()
        self._room.set()
        return data

    def append(self, data: bytes) -> None:
        super().append(data)
        if self._streaming and len(self._data) >= HIGH_WATER_BYTES:
            self._room.clear()

    def set_complete(self) -> None:
        super().set_complete()
        self._room.set()

    async def room(self) -> None:
        """Wait until a streaming reader has taken what is buffered (no wait otherwise)."""
        await self._room.wait()


class StreamingRequest(Request):
    """A request whose body is a :class:`StreamingBody`."""

    body_class = StreamingBody


class StreamingHTTPConnection(ASGIHTTPConnection):
    """Quart's ASGI HTTP handling, reading the body only as fast as a streaming view takes it."""

    async def handle_messages(self, request: Request, receive: ASGIReceiveCallable) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.request":
                request.body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    request.body.set_complete()
                elif isinstance(request.body, StreamingBody):
                    await request.body.room()
            elif message["type"] == "http.disconnect":
                return
