"""The check that keeps ``tsapi serve`` from opening an unprotected API beyond loopback."""

from __future__ import annotations

from api.security.access import is_loopback
from api.security.keys import KeyStore
from tsdb.connection import Client

__all__ = ["open_bind_refusal"]


async def open_bind_refusal(client: Client, host: str, insecure: bool) -> str | None:
    """Why ``tsapi serve`` must not bind ``host`` (None when it may): beyond loopback, at
    least one API key must exist unless ``insecure``."""
    if insecure or is_loopback(host.lower()):
        return None
    if await KeyStore(client).count() > 0:
        return None
    return (
        f"refusing to serve on {host} with no API key defined (anyone could read and change "
        "the data): create one with `tsapi keys create --name NAME --scope admin`, bind "
        "127.0.0.1, or pass --insecure (TSAPI_INSECURE=true) if something else guards it"
    )
