"""Who may do what: the scope each route needs, and the series a restricted key may reach.

Every request passes :func:`guard_request` before its handler:

1. Public routes (health, docs, the web page and its files, InfluxDB's ``/ping``) pass.
2. The caller is identified. With at least one key defined, that takes a valid key in
   ``Authorization: Bearer <key>`` (or ``Token <key>``, as InfluxDB clients send it, or
   ``X-API-Key``). With no key defined the server is open, but only to clients on loopback
   (or to anyone under ``--insecure``).
3. The rate limit of the key (or of the client address when open) is spent.
4. The route's scope: ``read`` for GET/HEAD, ``write`` for the other methods, ``admin`` for
   administration routes; ``admin`` holds every scope.
5. A key limited to a key prefix and/or a label filter reaches only matching series:
   routes naming a series check it (a series it cannot see is a 403, whether it exists or
   not); label queries get the key's filter added to theirs, so they return only series it
   may see (a key limited by prefix cannot use them: a label filter cannot select by key
   name); other routes (jobs, bulk and InfluxDB writes, metrics) need an unlimited key.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any, Final

from quart import current_app, g, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.exceptions import MethodNotAllowed

from api.extensions import settings, store
from api.security.errors import NotAllowed, NotAuthenticated
from api.security.keys import ApiKey, KeyStore, Scope
from api.security.ratelimit import RateLimiter
from api.security.reach import Reach
from core.settings import Settings
from tsdb.connection import Client
from tsdb.errors import StoreUnavailable

__all__ = [
    "GUARD",
    "OPEN_ACCESS",
    "PUBLIC_ENDPOINTS",
    "Guard",
    "guard_request",
    "is_loopback",
    "is_prometheus_read",
    "is_public",
    "open_to_caller",
    "required_scope",
]

GUARD: Final = "tsapi.guard"
#: Seconds a process trusts its answer to "are there any keys?".
KEYS_CHECK_SECONDS: Final = 2.0
#: Seconds between two ``last_used`` updates of one key by one process.
TOUCH_SECONDS: Final = 60.0

PUBLIC_ENDPOINTS: Final = frozenset(
    {
        "health.healthz",
        "health.readyz",
        "health.help_text",
        "influx.ping",
        "openapi",
        "swagger_ui",
        "redoc_ui",
        "scalar_ui",
        "static",
    }
)
PUBLIC_BLUEPRINTS: Final = frozenset({"ui", "docs"})
ADMIN_BLUEPRINTS: Final = frozenset({"keys"})
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

#: Blueprints whose routes name one series in the path (``<key>``, and ``<dest>``).
SERIES_BLUEPRINTS: Final = frozenset({"series", "points", "rules", "rollups"})
#: Routes that select series by label filter: a label-limited key's filter is added.
FILTERED: Final = frozenset(
    {
        "series.list_series",
        "query.query",
        "query.latest",
        "labels.list_labels",
        "labels.list_label_values",
        "labels.delete_points_matching",
    }
)
#: Routes whose JSON body names a series or sets labels.
BODY_CHECKED: Final = frozenset(
    {"series.create_series", "series.patch_series", "rules.create_rule"}
)
#: Prometheus' API (api/routes/prometheus.py): its reads need ``read`` whatever the method
#: (Grafana POSTs queries) and apply a label-limited key's filter themselves.
PROMETHEUS_BLUEPRINTS: Final = frozenset({"prometheus", "prometheus_prefixed"})
PROMETHEUS_WRITE: Final = "remote_write"
#: Routes that show no series data, open to limited keys too.
NO_SERIES_DATA: Final = frozenset({"jobs.list_job_types"})

#: Who a request is when the server has no keys and lets the client in.
OPEN_ACCESS: Final = ApiKey(
    id="open", name="open access (no keys defined)", scopes=frozenset(Scope)
)


def is_public(endpoint: str | None) -> bool:
    """True for routes anyone may call without a key (health, docs, the web page)."""
    return endpoint in PUBLIC_ENDPOINTS or (endpoint or "").rpartition(".")[0] in PUBLIC_BLUEPRINTS


def required_scope(endpoint: str | None, method: str) -> Scope | None:
    """The scope a route needs (None: public). Unknown routes need ``read``."""
    if endpoint in PUBLIC_ENDPOINTS:
        return None
    blueprint = endpoint.rpartition(".")[0] if endpoint else ""
    if blueprint in PUBLIC_BLUEPRINTS:
        return None
    if blueprint in ADMIN_BLUEPRINTS:
        return Scope.ADMIN
    if is_prometheus_read(endpoint):
        return Scope.READ
    return Scope.READ if method in READ_METHODS else Scope.WRITE


def is_prometheus_read(endpoint: str | None) -> bool:
    """True for the routes of Prometheus' API that only read (queries and discovery)."""
    blueprint, _, name = (endpoint or "").rpartition(".")
    return blueprint in PROMETHEUS_BLUEPRINTS and name != PROMETHEUS_WRITE


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost`` (and no address: an in-process client)."""
    if address is None or address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() in ("bearer", "token") and credentials.strip():
        return credentials.strip()
    return request.headers.get("X-API-Key", "").strip() or None


def _client_address() -> str | None:
    client = request.scope.get("client")
    return str(client[0]) if client else None


class Guard:
    """Authentication, rate limits and reach checks of one serving app."""

    def __init__(self, config: Settings, client: Client) -> None:
        self.client = client
        self.keys = KeyStore(client)
        self.insecure = config.insecure
        self.limiter = RateLimiter(client, config.rate_limit, config.rate_burst)
        self.limited = config.rate_limit > 0
        self._keys_checked_at = -KEYS_CHECK_SECONDS
        self._has_keys = True
        self._keys_known = False
        self._touched: dict[str, float] = {}

    async def has_keys(self) -> bool:
        """Whether any key exists (cached for :data:`KEYS_CHECK_SECONDS`).

        While Redis is unavailable the last answer stays in force (no key can be made or
        revoked meanwhile), so an open server's routes still answer for themselves (503).
        """
        now = time.monotonic()
        if now - self._keys_checked_at >= KEYS_CHECK_SECONDS:
            try:
                self._has_keys = await self.keys.count() > 0
            except StoreUnavailable:
                if not self._keys_known:
                    raise
            else:
                self._keys_known = True
            self._keys_checked_at = now
        return self._has_keys

    async def admit(self, scope: Scope) -> ApiKey:
        """The key of this request, after the rate limit and the scope check."""
        token = _token()
        address = _client_address()
        key: ApiKey | None = None
        if await self.has_keys():
            key = await self.keys.verify(token) if token else None
        elif self.insecure or is_loopback(address):
            key = OPEN_ACCESS
        own_rate = key.rate_limit if key is not None else None
        if self.limited or own_rate:
            identity = key.id if key is not None and key is not OPEN_ACCESS else f"ip:{address}"
            await self.limiter.take(identity, own_rate)
        if key is None:
            raise NotAuthenticated(token_sent=token is not None)
        if not key.allows(scope):
            raise NotAllowed(
                f"this key does not have the {scope} scope that {request.method} "
                f"{request.path} needs",
                scope=str(scope),
            )
        if key is not OPEN_ACCESS:
            await self._touch(key)
        return key

    async def _touch(self, key: ApiKey) -> None:
        now = time.monotonic()
        if now - self._touched.get(key.id, -TOUCH_SECONDS) >= TOUCH_SECONDS:
            self._touched[key.id] = now
            await self.keys.touch(key.id)

    async def check_reach(self, reach: Reach) -> None:
        """Refuse (403) what a limited key may not reach; narrow its label queries."""
        if reach.unrestricted:
            return
        endpoint = request.endpoint or ""
        view_args: dict[str, Any] = request.view_args or {}
        if endpoint in NO_SERIES_DATA:
            return
        if is_prometheus_read(endpoint):
            if reach.prefix:
                raise NotAllowed(
                    f"this key may only reach {reach.describe()}; PromQL needs a key limited "
                    "by a label filter only (a filter cannot select by key name)"
                )
            return  # the routes add the key's filter to every selector
        if endpoint in FILTERED:
            if reach.prefix:
                raise NotAllowed(
                    f"this key may only reach {reach.describe()}; label queries need a key "
                    "limited by a label filter only (a filter cannot select by key name)"
                )
            _add_filters(reach.filters)
            return
        blueprint = endpoint.rpartition(".")[0]
        if endpoint in BODY_CHECKED or (blueprint in SERIES_BLUEPRINTS and "key" in view_args):
            for name in ("key", "dest"):
                if name in view_args:
                    await self._check_series(reach, str(view_args[name]))
            if endpoint in BODY_CHECKED:
                await self._check_body(reach, endpoint)
            return
        raise NotAllowed(
            f"this key may only reach {reach.describe()}; {request.method} {request.path} "
            "needs a key without series limits"
        )

    async def _check_series(self, reach: Reach, key: str, labels: Any = None) -> None:
        """A series named by the request: its name, and its labels (stored, or ``labels``)."""
        allowed = reach.allows_key(key)
        if allowed and reach.filters:
            if labels is None:
                labels = (await store().labels_of([key])).get(key)
            allowed = isinstance(labels, dict) and reach.allows_labels(
                {str(k): str(v) for k, v in labels.items()}
            )
        if not allowed:
            raise NotAllowed(
                f"this key may only reach {reach.describe()} (a series it cannot see is "
                "outside, whether it exists or not)"
            )

    async def _check_body(self, reach: Reach, endpoint: str) -> None:
        body = await request.get_json(silent=True)  # cached: the handler reads it again
        if not isinstance(body, dict):
            return  # the handler refuses it (400/415/422) before touching any series
        if endpoint == "series.create_series":
            key = body.get("key")
            key = key if isinstance(key, str) else ""
            await self._check_series(reach, key, body.get("labels") or {})
        elif endpoint == "series.patch_series":
            labels = body.get("labels")
            if labels is not None and reach.filters:
                key = str((request.view_args or {}).get("key", ""))
                await self._check_series(reach, key, labels)
        elif endpoint == "rules.create_rule":
            dest = body.get("dest")
            dest = dest if isinstance(dest, str) else ""
            stored = (await store().labels_of([dest])).get(dest) if reach.filters else None
            labels = stored if stored is not None else body.get("dest_labels") or {}
            await self._check_series(reach, dest, labels)


def _add_filters(filters: tuple[str, ...]) -> None:
    """Add the key's filters to the request's, which must all hold as well."""
    args = MultiDict(request.args)
    given = args.poplist("filter") + args.poplist("filter[]")
    args.setlist("filter", [*given, *filters])
    request.args = ImmutableMultiDict(args)


def _guard() -> Guard:
    client = store().client
    guard: Guard | None = current_app.extensions.get(GUARD)
    if guard is None or guard.client is not client:
        guard = current_app.extensions[GUARD] = Guard(settings(), client)
    return guard


async def open_to_caller() -> bool:
    """True when this caller may use the API without a key right now (no key defined, and
    the caller on loopback or the server ``--insecure``); False when unsure."""
    guard = _guard()
    try:
        has_keys = await guard.has_keys()
    except StoreUnavailable:
        return False
    return not has_keys and (guard.insecure or is_loopback(_client_address()))


async def guard_request() -> None:
    """The ``before_request`` hook: authenticate, rate-limit, authorize, check reach."""
    if isinstance(request.routing_exception, MethodNotAllowed):
        return  # 405 with Allow: the routes are public (/openapi.json), their methods too
    scope = required_scope(request.endpoint, request.method)
    if scope is None:
        return
    guard = _guard()
    key = await guard.admit(scope)
    g.api_key = key
    await guard.check_reach(key.reach)
