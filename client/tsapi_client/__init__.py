"""A Python client for tsapi: :class:`Client` (sync) and :class:`AsyncClient` (asyncio).

::

    from tsapi_client import Client

    with Client("http://127.0.0.1:5000") as api:
        api.create_series("temp:austin", {"city": "austin"})
        api.write("temp:austin", "2024-01-31T12:00:00Z", 21.5)
        print(api.range("temp:austin", agg="avg", bucket="1h"))

The exception tree is drawn in :mod:`tsapi_client.errors`.
"""

from tsapi_client.aio import AsyncClient
from tsapi_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidInput,
    JobCanceled,
    JobError,
    JobFailed,
    MissingDependency,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerTimeout,
    StreamInterrupted,
    TsapiError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    WaitTimeout,
)
from tsapi_client.models import (
    Aggregation,
    BucketTimestamp,
    BulkResult,
    DuplicatePolicy,
    Encoding,
    FillPolicy,
    Function,
    Health,
    IngestSummary,
    Job,
    JobFile,
    JobStatus,
    JobType,
    LatestValue,
    Point,
    Points,
    Progress,
    QueryResult,
    Reducer,
    Rule,
    Schedule,
    Series,
    SeriesPoints,
    SeriesSummary,
    WriteResult,
)
from tsapi_client.sync import Client

__all__ = [
    "Aggregation",
    "ApiError",
    "AsyncClient",
    "BadRequest",
    "BucketTimestamp",
    "BulkResult",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "DuplicatePolicy",
    "Encoding",
    "FillPolicy",
    "Forbidden",
    "Function",
    "Health",
    "IngestSummary",
    "InvalidInput",
    "Job",
    "JobCanceled",
    "JobError",
    "JobFailed",
    "JobFile",
    "JobStatus",
    "JobType",
    "LatestValue",
    "MissingDependency",
    "NotFound",
    "PayloadTooLarge",
    "Point",
    "Points",
    "Progress",
    "QueryResult",
    "RateLimited",
    "Reducer",
    "Rule",
    "Schedule",
    "Series",
    "SeriesPoints",
    "SeriesSummary",
    "ServerTimeout",
    "StreamInterrupted",
    "TsapiError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "WaitTimeout",
    "WriteResult",
]
