"""One bulk write from start to end: stream the body through a parser into the writer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

from quart import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from api.errors import ApiError
from api.outage import outage_log
from tsdb.bulk import Batch, BulkWriter, WriteSummary
from tsdb.errors import InvalidInput, StoreTimeout, StoreUnavailable, WriteRejected
from tsdb.rejections import Rejections
from tsdb.store import TimeSeriesStore

__all__ = ["COALESCE_POINTS", "NoPoints", "Parser", "WriteInterrupted", "ingest"]

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
    data: TimeSeriesStore,
    *,
    atomic: bool = False,
    create: bool = False,
    labels: Mapping[str, str] | None = None,
    create_options: Sequence[str | int] = (),
) -> WriteSummary:
    """Parse and write; raise :class:`WriteRejected` if any point was refused.

    Without ``atomic``, each block is written as soon as it is parsed and memory stays
    bounded whatever the body size. With it, the whole body is parsed and checked first and
    nothing is written if anything is wrong.
    """
    rejections = parser.rejections
    writer = data.bulk_writer(
        rejections, create=create, labels=labels, create_options=create_options
    )
    progress = _Progress(rejections)
    async with writer:
        points = 0
        held: list[Batch] = []  # atomic: everything; else small batches waiting for company
        waiting = 0  # points in held (kept as a count: summing held per batch was quadratic)

        async def write(batch: Batch) -> None:
            with progress.writing(len(batch)):
                await writer.write(batch)

        async def take(batch: Batch) -> None:
            nonlocal points, waiting
            size = len(batch)
            points += size
            waiting += size
            held.append(batch)
            if not atomic and waiting >= COALESCE_POINTS:
                await write(Batch.concat(held))
                held.clear()
                waiting = 0

        try:
            try:
                async for chunk in chunks:
                    for batch in parser.feed(chunk):
                        await take(batch)
                for batch in parser.finish():
                    await take(batch)
            except RequestEntityTooLarge:
                if atomic or not (writer.written or writer.has_pending):
                    raise
                with progress.writing(0):
                    summary = await writer.finish()
                raise _too_large(summary) from None
            if points == 0 and not rejections:
                raise NoPoints()
            if atomic:
                if rejections:
                    raise WriteRejected(rejections, 0, atomic=True)
                merged = Batch.concat(held)
                held.clear()
                with progress.writing(0):
                    await writer.preflight(merged)
                if rejections:
                    raise WriteRejected(rejections, 0, atomic=True)
                await write(merged)
            elif held:
                await write(Batch.concat(held))
            with progress.writing(0):
                summary = await writer.finish()
        except StoreUnavailable as exc:
            raise WriteInterrupted(exc, writer, progress, points) from exc
    if rejections:
        raise WriteRejected(
            rejections, summary.written, summary.created, atomic=False, ignored=summary.ignored
        )
    return summary


class _Progress:
    """How many points were handed to the writer, and how many of those it rejected."""

    def __init__(self, rejections: Rejections) -> None:
        self.rejections = rejections
        self.handed = 0
        self.rejected_by_writer = 0

    @contextmanager
    def writing(self, points: int) -> Iterator[None]:
        before = self.rejections.count
        self.handed += points
        try:
            yield
        finally:
            self.rejected_by_writer += self.rejections.count - before


class WriteInterrupted(ApiError):
    """Redis failed in the middle of a bulk write: what was stored, and what may have been.

    ``written`` points are stored for sure; ``unconfirmed`` were sent but their replies were
    not read (each may or may not be stored); ``received`` is how many points of the body
    were parsed before the fault. Sending the whole body again is safe for series whose
    duplicate policy is ``last`` (tsapi's default): points already stored are rewritten.
    """

    def __init__(
        self, cause: StoreUnavailable, writer: BulkWriter, progress: _Progress, received: int
    ) -> None:
        timeout = isinstance(cause, StoreTimeout)
        settled = writer.written + writer.ignored.count + progress.rejected_by_writer
        unconfirmed = max(0, progress.handed - settled)
        outage_log().refused(str(cause), f"{request.method} {request.path}")
        super().__init__(
            504 if timeout else 503,
            "store-timeout" if timeout else "store-unavailable",
            "Time-series store did not answer" if timeout else "Time-series store unavailable",
            f"Redis failed during the write: {writer.written} point(s) were stored, "
            f"{unconfirmed} sent without confirmation (they may or may not be stored), of "
            f"{received} received so far; retry shortly (sending the same points again "
            "rewrites those already stored under the duplicate policy 'last')",
            headers={"Retry-After": "1"},
            written=writer.written,
            unconfirmed=unconfirmed,
            received=received,
            created=writer.created,
            rejected_count=progress.rejections.count,
        )


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
