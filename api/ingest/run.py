"""One bulk write from start to end: stream the body through a parser into the writer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Protocol

from quart import current_app
from werkzeug.exceptions import RequestEntityTooLarge

from api.errors import ApiError
from tsdb.bulk import Batch, BulkWriter, WriteSummary
from tsdb.connection import Client
from tsdb.errors import InvalidInput, WriteRejected
from tsdb.rejections import Rejections

__all__ = ["COALESCE_POINTS", "NoPoints", "Parser", "ingest"]

COALESCE_POINTS = 5_000
"""Batches smaller than this are gathered before they are written (many tiny series)."""


class Parser(Protocol):
    """What :func:`ingest` needs from a body parser."""

    rejections: Rejections

    def feed(self, data: bytes) -> list[Batch]: ...

    def finish(self) -> Iterable[Batch]: ...


class NoPoints(InvalidInput):
    """The body holds no points at all."""

    def __init__(self) -> None:
        super().__init__("the body holds no points")


async def ingest(
    chunks: AsyncIterator[bytes],
    parser: Parser,
    client: Client,
    *,
    atomic: bool = False,
    create: bool = False,
    labels: Mapping[str, str] | None = None,
    create_options: Sequence[str | int] = (),
    madd_samples: int = 10_000,
) -> WriteSummary:
    """Parse and write; raise :class:`WriteRejected` if any point was refused.

    Without ``atomic``, each block is written as soon as it is parsed and memory stays
    bounded whatever the body size. With it, the whole body is parsed and checked first and
    nothing is written if anything is wrong.
    """
    rejections = parser.rejections
    writer = BulkWriter(
        client,
        rejections,
        create=create,
        labels=labels,
        create_options=create_options,
        madd_samples=madd_samples,
    )
    async with writer:
        points = 0
        held: list[Batch] = []  # atomic: everything; else small batches waiting for company
        waiting = 0  # points in held (kept as a count: summing held per batch was quadratic)

        async def take(batch: Batch) -> None:
            nonlocal points, waiting
            size = len(batch)
            points += size
            waiting += size
            held.append(batch)
            if not atomic and waiting >= COALESCE_POINTS:
                await writer.write(Batch.concat(held))
                held.clear()
                waiting = 0

        try:
            async for chunk in chunks:
                for batch in parser.feed(chunk):
                    await take(batch)
            for batch in parser.finish():
                await take(batch)
        except RequestEntityTooLarge:
            if atomic or not (writer.written or writer.has_pending):
                raise
            summary = await writer.finish()
            raise _too_large(summary) from None
        if points == 0 and not rejections:
            raise NoPoints()
        if atomic:
            if rejections:
                raise WriteRejected(rejections, 0, atomic=True)
            merged = Batch.concat(held)
            held.clear()
            await writer.preflight(merged)
            if rejections:
                raise WriteRejected(rejections, 0, atomic=True)
            await writer.write(merged)
        elif held:
            await writer.write(Batch.concat(held))
        summary = await writer.finish()
    if rejections:
        raise WriteRejected(
            rejections, summary.written, summary.created, atomic=False, ignored=summary.ignored
        )
    return summary


def _too_large(summary: WriteSummary) -> ApiError:
    return ApiError(
        413,
        "body-too-large",
        "Payload Too Large",
        f"the request body is larger than the limit of {current_app.config['MAX_CONTENT_LENGTH']}"
        f" bytes; the {summary.written} point(s) before it were written",
        written=summary.written,
        created=summary.created,
    )
