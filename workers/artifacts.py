"""Files produced by jobs, kept in Redis with a TTL so any API host can serve them."""

from __future__ import annotations

import re

import orjson
from redis import Redis

from tsdb.keys import artifact_index_key, artifact_key
from workers.errors import JobNotFound
from workers.models import JobFile

__all__ = ["NAME_PATTERN", "list_files", "load", "save"]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise JobNotFound(f"no file named {name!r}")
    return name


def save(
    connection: Redis, job_id: str, name: str, data: bytes, content_type: str, ttl: int
) -> JobFile:
    """Store one file of ``job_id`` for ``ttl`` seconds."""
    _check_name(name)
    info = JobFile(name=name, content_type=content_type, size=len(data))
    meta = orjson.dumps({"content_type": content_type, "size": len(data)})
    with connection.pipeline(transaction=True) as pipe:
        pipe.set(artifact_key(job_id, name), data, ex=ttl)
        pipe.hset(artifact_index_key(job_id), name, meta)
        pipe.expire(artifact_index_key(job_id), ttl)
        pipe.execute()
    return info


def list_files(connection: Redis, job_id: str) -> list[JobFile]:
    """The files ``job_id`` produced, by name."""
    raw = connection.hgetall(artifact_index_key(job_id))
    files = []
    for name, meta in raw.items():
        info = orjson.loads(meta)
        files.append(
            JobFile(name=_text(name), content_type=info["content_type"], size=info["size"])
        )
    return sorted(files, key=lambda f: f.name)


def load(connection: Redis, job_id: str, name: str) -> tuple[bytes, str]:
    """The bytes and content type of one file; :class:`JobNotFound` if there is none."""
    _check_name(name)
    with connection.pipeline(transaction=False) as pipe:
        pipe.get(artifact_key(job_id, name))
        pipe.hget(artifact_index_key(job_id), name)
        data, meta = pipe.execute()
    if data is None or meta is None:
        raise JobNotFound(f"job {job_id} has no file named {name!r}")
    return bytes(data), orjson.loads(meta)["content_type"]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
