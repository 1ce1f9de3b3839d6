"""The allow-list of job types: only what is registered here can ever run on a worker."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from tsdb.errors import InvalidInput
from workers.errors import UnknownJobType

if TYPE_CHECKING:
    from tsdb.store import TimeSeriesStore
    from workers.run import JobRun

__all__ = ["JobType", "get", "job_types"]

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class JobType(Generic[P]):
    """A kind of job: its parameters, how to check them against the data, and how to run it.

    ``prepare`` runs in the API at submission: it validates the params against the store
    (unknown series, filters matching nothing, bad ranges) and returns them resolved
    (relative times turned into timestamps, filters into keys), so a job runs on exactly
    what the user asked for at the time they asked. ``run`` runs on a worker.
    """

    name: str
    description: str
    params: type[P]
    prepare: Callable[[P, TimeSeriesStore], Coroutine[Any, Any, P]]
    run: Callable[[P, JobRun], dict[str, Any]]

    @classmethod
    def of(
        cls,
        name: str,
        params: type[P],
        prepare: Callable[[P, TimeSeriesStore], Coroutine[Any, Any, P]],
        run: Callable[[P, JobRun], dict[str, Any]],
    ) -> JobType[P]:
        """The job type whose description is the first line of ``run``'s docstring."""
        description = (run.__doc__ or "").strip().splitlines()[0]
        return cls(name, description, params, prepare, run)

    def validate(self, raw: Any) -> P:
        """``raw`` params as this type's model; :class:`InvalidInput` naming each problem."""
        try:
            return self.params.model_validate(raw)
        except ValidationError as exc:
            raise InvalidInput(
                f"the params of a {self.name} job are not valid",
                errors=[
                    {"field": "params." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in exc.errors(include_url=False)
                ],
            ) from None


def job_types() -> dict[str, JobType[Any]]:
    """Every registered job type by name."""
    from workers.jobs import (
        anomaly,
        backfill,
        correlate,
        downsample,
        export,
        forecast,
        noop,
        plot,
        stats,
    )

    return {
        t.name: t
        for t in (
            plot.JOB_TYPE,
            downsample.JOB_TYPE,
            stats.JOB_TYPE,
            noop.JOB_TYPE,
            anomaly.JOB_TYPE,
            correlate.JOB_TYPE,
            forecast.JOB_TYPE,
            export.JOB_TYPE,
            backfill.JOB_TYPE,
        )
    }


def get(name: str) -> JobType[Any]:
    """The job type called ``name``; :class:`UnknownJobType` if it is not registered."""
    types = job_types()
    if name not in types:
        raise UnknownJobType(name, sorted(types))
    return types[name]


def params_by_type(schema: dict[str, Any], definitions: dict[str, Any], ref_template: str) -> None:
    """Make a request schema with ``type`` and ``params`` say exactly which params each job
    type takes: ``type`` one of the registered names, and one ``oneOf`` branch per type
    with its params' JSON Schema (their definitions go to ``definitions``)."""
    branches = []
    types = job_types()
    for name, kind in types.items():
        params = kind.params.model_json_schema(by_alias=True, ref_template=ref_template)
        definitions.update(params.pop("$defs", {}))
        branches.append({"properties": {"type": {"const": name}, "params": params}})
    schema["properties"]["type"] = {
        "enum": sorted(types),
        "description": "A job type (GET /v1/job-types lists them with their params)",
    }
    schema["oneOf"] = branches
