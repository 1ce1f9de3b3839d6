"""Types of the compiled module built from ``promql/_wire.c``."""

from _typeshed import ReadableBuffer

def write_request(
    raw: ReadableBuffer,
) -> tuple[bytearray, bytearray, bytearray, bytearray, int, int, int] | None: ...
