"""What jobs produce besides their JSON result: figures saved as files, series written back."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from bokeh.models import Plot

from plots.render import to_html
from workers.jobs.common import Format
from workers.run import JobRun

__all__ = ["save_figure", "write_series"]


def write_series(
    job: JobRun,
    dest: str,
    labels: dict[str, str],
    t: npt.NDArray[np.int64],
    v: npt.NDArray[np.float64],
) -> int:
    """Write ``(t, v)`` into ``dest`` (created with ``labels`` if missing; tsapi's default
    policy replaces existing points); how many points were stored."""
    return job.run(job.store.write_series(dest, t, v, create=True, labels=labels)).written


def save_figure(job: JobRun, figure: Plot, name: str, title: str, formats: list[Format]) -> None:
    """Save ``figure`` as ``<name>.html`` and/or ``<name>.png``."""
    if "html" in formats:
        job.save_file(f"{name}.html", to_html(figure, title).encode(), "text/html; charset=utf-8")
    if "png" in formats:
        job.save_file(f"{name}.png", job.render_png(figure), "image/png")
