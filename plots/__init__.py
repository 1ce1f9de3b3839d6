"""Plot rendering for tsapi analysis jobs: pure Bokeh figure builders plus HTML/PNG output."""

from __future__ import annotations

from .errors import PlotsError, RenderError
from .figures import PlotKind, PlotOptions, SeriesData, build_figure
from .render import PngRenderer, to_html

__all__ = [
    "PlotKind",
    "PlotOptions",
    "PlotsError",
    "PngRenderer",
    "RenderError",
    "SeriesData",
    "build_figure",
    "to_html",
]
