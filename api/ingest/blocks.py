"""Cutting a streamed text body into blocks of whole lines, keeping line numbers."""

from __future__ import annotations

from api.errors import ApiError

__all__ = ["BLOCK_BYTES", "MAX_LINE_BYTES", "LineBlocks"]

BLOCK_BYTES = 1 << 20
"""Bytes of text parsed at a time: big enough to vectorize, small enough to stream."""

MAX_LINE_BYTES = 1 << 20
"""A longer line is refused (422): no valid line comes close."""


class LineBlocks:
    """Accumulates pieces and hands out blocks of about ``block_bytes`` that end on a line break.

    A block comes as ``(first_line, block)``: ``first_line`` is the 1-based number of its
    first line in the body. However big the pieces pushed, blocks stay near ``block_bytes``.
    """

    def __init__(self, block_bytes: int = BLOCK_BYTES) -> None:
        self.block_bytes = block_bytes
        self._buf = bytearray()
        self._next_line = 1

    def push(self, data: bytes | memoryview) -> None:
        """Add a piece of the body."""
        self._buf += data

    def ready(self) -> list[tuple[int, bytes]]:
        """Whole-line blocks that are ready, as ``(first_line, block)``."""
        blocks: list[tuple[int, bytes]] = []
        buf, start, size = self._buf, 0, self.block_bytes
        while len(buf) - start >= size:
            cut = buf.rfind(b"\n", start, start + size)
            if cut < 0:  # a line longer than a block: take it whole if it ends in reach
                cut = buf.find(b"\n", start + size, start + MAX_LINE_BYTES + 1)
                if cut < 0:
                    if len(buf) - start > MAX_LINE_BYTES:
                        raise _too_long(self._next_line)
                    break
            blocks.append(self._block(bytes(buf[start : cut + 1])))
            start = cut + 1
        del buf[:start]
        return blocks

    def header(self) -> bytes | None:
        """The first line, once it is complete (consumed); None until then."""
        cut = self._buf.find(b"\n")
        if cut < 0:
            if len(self._buf) > MAX_LINE_BYTES:
                raise _too_long(1)
            return None
        line = bytes(self._buf[:cut])
        del self._buf[: cut + 1]
        self._next_line += 1
        return line

    def rest(self) -> list[tuple[int, bytes]]:
        """The remaining blocks at the end of the body (a final line break added if missing)."""
        if self._buf and not self._buf.endswith(b"\n"):
            self._buf += b"\n"
        blocks = self.ready()
        if self._buf:
            blocks.append(self._block(bytes(self._buf)))
            self._buf.clear()
        return blocks

    def _block(self, block: bytes) -> tuple[int, bytes]:
        first = self._next_line
        self._next_line += block.count(b"\n")
        return first, block


def _too_long(line: int) -> ApiError:
    return ApiError(
        422,
        "invalid-input",
        "Invalid input",
        f"line {line} is longer than {MAX_LINE_BYTES} bytes",
    )
