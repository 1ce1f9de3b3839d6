"""Streamed answers that cannot look complete when they are cut.

A range read is streamed: its status (200) and first bytes are sent before the last page is
read from Redis. If Redis fails after that, the body must not end as if it were whole.
:func:`streamed_response` wraps a body so that an error while it is being produced ends it
with a trailing error record, the problem document of the error:

- JSON: every open array and object is closed and the top-level object gets an ``error``
  member, ``{"key": "k", "points": [[1, 2.0], ...], "error": {"type": ..., "status": 503,
  ...}}``. An answer with ``error`` is incomplete; one without it is whole.
- CSV: a last line ``#error {"type": ..., "status": 503, ...}`` (``#error`` and the problem
  document as JSON). A CSV answer whose last line starts with ``#error`` is incomplete.

The Python client raises :class:`~tsapi_client.errors.StreamInterrupted` on either.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from quart import Quart, Response, current_app, request

from api.errors import answer_for
from api.responses import dumps

__all__ = ["CSV_ERROR_PREFIX", "JsonNesting", "interruptible", "streamed_response"]

log = logging.getLogger(__name__)

CSV = "text/csv"
CSV_ERROR_PREFIX = b"#error "

_OPENERS = {ord("["): ord("]"), ord("{"): ord("}")}
_CLOSERS = frozenset((ord("]"), ord("}")))


class JsonNesting:
    """Which arrays and objects are open in a JSON text fed piece by piece.

    Pieces without a string in them (rows of numbers, the bulk of a range) are counted with
    ``bytes.count``; only pieces holding a ``"`` are scanned byte by byte, for brackets inside
    strings (a key may hold ``{`` and ``}``).
    """

    def __init__(self) -> None:
        self.stack: list[int] = []
        self._in_string = False
        self._escaped = False

    def feed(self, piece: bytes) -> None:
        """Account for the next piece of the text."""
        if not self._in_string and b'"' not in piece:
            self._feed_plain(piece)
            return
        for byte in piece:
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif byte == 0x5C:  # backslash
                    self._escaped = True
                elif byte == 0x22:
                    self._in_string = False
            elif byte == 0x22:
                self._in_string = True
            elif byte in _OPENERS:
                self.stack.append(_OPENERS[byte])
            elif byte in _CLOSERS and self.stack:
                self.stack.pop()

    def _feed_plain(self, piece: bytes) -> None:
        if b"{" not in piece and b"}" not in piece:
            opened, closed = piece.count(b"["), piece.count(b"]")
            if opened == closed and (opened == 0 or piece.index(b"[") < piece.index(b"]")):
                return  # whole rows: [t,v],[t,v]
            if closed == 0:
                self.stack.extend([ord("]")] * opened)
                return
        for byte in piece:
            if byte in _OPENERS:
                self.stack.append(_OPENERS[byte])
            elif byte in _CLOSERS and self.stack:
                self.stack.pop()

    def closing(self) -> bytes:
        """What closes everything but the top-level object (innermost first)."""
        return bytes(reversed(self.stack[1:]))


async def interruptible(
    chunks: AsyncIterator[bytes], *, csv: bool, app: Quart, method: str, path: str
) -> AsyncIterator[bytes]:
    """``chunks``, ended by a trailing error record if producing them fails (for the
    request ``method`` ``path`` of ``app``: the body is sent after the request's context)."""
    nesting = None if csv else JsonNesting()
    started = False
    try:
        async for chunk in chunks:
            if nesting is not None:
                nesting.feed(chunk)
            started = True
            yield chunk
    except Exception as exc:  # every failure must end the body detectably
        async with app.app_context():
            answer = answer_for(exc, method=method, path=path)
        problem = dumps(answer.body)
        log.debug("stream cut by %r", exc)
        if csv:
            yield CSV_ERROR_PREFIX + problem + b"\n"
        elif nesting is None or not started or not nesting.stack:
            yield b'{"error":' + problem + b"}"
        else:
            yield nesting.closing() + b',"error":' + problem + b"}"


def streamed_response(
    chunks: AsyncIterator[bytes], *, csv: bool, headers: dict[str, str] | None = None
) -> Response:
    """A streamed JSON or CSV answer that ends in an error record if it is cut."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    body = interruptible(chunks, csv=csv, app=app, method=request.method, path=request.path)
    return Response(body, mimetype=CSV if csv else "application/json", headers=headers)
