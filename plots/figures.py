"""Pure figure builders: time-series data in, Bokeh figure out (no I/O).

All user-supplied text (title, axis labels, series keys) is passed to Bokeh as plain text:
titles and axis labels are wrapped in :class:`~bokeh.models.PlainText` so that ``$$...$$``
is not interpreted as TeX, and Bokeh paints them on a canvas (never as HTML). The hover
tooltip only uses escaped placeholders (``$name``, ``@t``, ``@v``; never ``{safe}``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from bokeh.core.properties import value
from bokeh.models import (
    BoxZoomTool,
    ColumnDataSource,
    DatetimeTickFormatter,
    HoverTool,
    Node,
    PanTool,
    PlainText,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.models.annotations import Label, Legend, LegendItem, Title
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from . import theme

__all__ = ["PlotKind", "PlotOptions", "SeriesData", "build_figure"]

logger = logging.getLogger(__name__)

#: Column names used in every series' ColumnDataSource.
T_COLUMN: Final = "t"
V_COLUMN: Final = "v"

#: Hover tooltip. ``$name`` is the renderer name (= series key). Bokeh HTML-escapes every
#: placeholder value unless the ``{safe}`` format is used, which we never do.
TOOLTIPS: Final[list[tuple[str, str]]] = [
    ("series", "$name"),
    ("time", f"@{T_COLUMN}{{%Y-%m-%d %H:%M:%S.%3N}} UTC"),
    ("value", f"@{V_COLUMN}{{%.6g}}"),
]


def _iso_datetime_ticks() -> DatetimeTickFormatter:
    """A fresh ISO-like tick formatter (Bokeh models cannot be shared between documents)."""
    return DatetimeTickFormatter(
        milliseconds="%H:%M:%S.%3N",
        seconds="%H:%M:%S",
        minsec="%H:%M:%S",
        minutes="%H:%M",
        hourmin="%H:%M",
        hours="%H:%M",
        days="%Y-%m-%d",
        months="%Y-%m",
        years="%Y",
        context=DatetimeTickFormatter(
            milliseconds="%Y-%m-%d",
            seconds="%Y-%m-%d",
            minsec="%Y-%m-%d",
            minutes="%Y-%m-%d",
            hourmin="%Y-%m-%d",
            hours="%Y-%m-%d",
            days="",
            months="",
            years="",
        ),
    )


class PlotKind(StrEnum):
    """How the points of a series are drawn."""

    LINE = "line"
    SCATTER = "scatter"
    STEP = "step"


@dataclass(frozen=True)
class SeriesData:
    """One time series: ``t`` in epoch milliseconds (UTC), ``v`` values (None/NaN = gap)."""

    key: str
    t: Sequence[int]
    v: Sequence[float | None]
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.t) != len(self.v):
            raise ValueError(
                f"series {self.key!r}: t and v differ in length ({len(self.t)} != {len(self.v)})"
            )


@dataclass(frozen=True)
class PlotOptions:
    """Presentation options for :func:`build_figure`."""

    title: str = ""
    x_label: str = "time"
    y_label: str = "value"
    kind: PlotKind = PlotKind.LINE
    log_y: bool = False
    width: int = 900
    height: int = 400

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"width and height must be positive, got {self.width}x{self.height}")


def _as_arrays(s: SeriesData) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Convert a series to float64 arrays; None becomes NaN (Bokeh draws NaN as a gap)."""
    t = np.asarray(s.t, dtype=np.float64)
    v = np.asarray(s.v, dtype=np.float64)
    return t, v


def _has_finite_point(t: npt.NDArray[np.float64], v: npt.NDArray[np.float64]) -> bool:
    return bool(np.any(np.isfinite(t) & np.isfinite(v)))


def _new_figure(options: PlotOptions) -> figure:
    title = Title(
        text=PlainText(text=options.title),
        text_font=theme.FONT_FAMILY,
        text_font_size=theme.TITLE_FONT_SIZE,
        text_color=theme.TEXT_COLOR,
    )
    fig = figure(
        title=title,
        width=options.width,
        height=options.height,
        sizing_mode="fixed",
        x_axis_type="datetime",
        y_axis_type="log" if options.log_y else "linear",
        tools=[PanTool(), BoxZoomTool(), WheelZoomTool(), ResetTool(), SaveTool()],
        toolbar_location="right",
        background_fill_color=theme.BACKGROUND_COLOR,
        border_fill_color=theme.BACKGROUND_COLOR,
        output_backend="canvas",
    )
    for axis, label in ((fig.xaxis[0], options.x_label), (fig.yaxis[0], options.y_label)):
        axis.axis_label = PlainText(text=label)
        axis.axis_label_text_font = theme.FONT_FAMILY
        axis.axis_label_text_font_size = theme.AXIS_LABEL_FONT_SIZE
        axis.axis_label_text_color = theme.TEXT_COLOR
        axis.major_label_text_font = theme.FONT_FAMILY
    fig.xaxis[0].formatter = _iso_datetime_ticks()
    fig.xgrid.grid_line_color = theme.GRID_COLOR
    fig.ygrid.grid_line_color = theme.GRID_COLOR
    return fig


def _add_glyph(
    fig: figure, kind: PlotKind, source: ColumnDataSource, color: str, key: str
) -> GlyphRenderer[Any]:
    if kind is PlotKind.SCATTER:
        return fig.scatter(
            T_COLUMN,
            V_COLUMN,
            source=source,
            name=key,
            marker="circle",
            size=theme.MARKER_SIZE,
            color=color,
        )
    if kind is PlotKind.STEP:
        return fig.step(
            T_COLUMN,
            V_COLUMN,
            source=source,
            name=key,
            mode="after",
            line_width=theme.LINE_WIDTH,
            line_color=color,
        )
    return fig.line(
        T_COLUMN,
        V_COLUMN,
        source=source,
        name=key,
        line_width=theme.LINE_WIDTH,
        line_color=color,
    )


def _add_no_data_note(fig: figure) -> None:
    fig.add_layout(
        Label(
            x=Node.frame.center,
            y=Node.frame.center,
            text_align="center",
            text_baseline="middle",
            text=theme.NO_DATA_TEXT,
            text_color=theme.NO_DATA_COLOR,
            text_font=theme.FONT_FAMILY,
            text_font_size=theme.NO_DATA_FONT_SIZE,
            name="no-data",
        )
    )


def build_figure(series: Sequence[SeriesData], options: PlotOptions) -> figure:
    """Build an interactive Bokeh time-series figure.

    One glyph renderer and one legend item (labelled with the series key; clicking it hides
    the series) per entry of ``series``, in order. The x axis is a UTC datetime axis; the y
    axis is logarithmic when ``options.log_y``. None/NaN values produce gaps. When there is
    no finite point at all, a centred "no data" note is drawn.
    """
    fig = _new_figure(options)
    colors = theme.palette_for(len(series))
    renderers: list[GlyphRenderer[Any]] = []
    items: list[LegendItem] = []
    any_point = False
    for s, color in zip(series, colors, strict=True):
        t, v = _as_arrays(s)
        any_point = any_point or _has_finite_point(t, v)
        source = ColumnDataSource(data={T_COLUMN: t, V_COLUMN: v})
        renderer = _add_glyph(fig, options.kind, source, color, s.key)
        renderers.append(renderer)
        items.append(LegendItem(label=value(s.key), renderers=[renderer]))
    if renderers:
        legend = Legend(
            items=items,
            click_policy="hide",
            label_text_font=theme.FONT_FAMILY,
            label_text_font_size=theme.LEGEND_FONT_SIZE,
            label_text_color=theme.TEXT_COLOR,
        )
        fig.add_layout(legend, "right")
        fig.add_tools(
            HoverTool(
                renderers=list(renderers),
                tooltips=TOOLTIPS,
                formatters={f"@{T_COLUMN}": "datetime", f"@{V_COLUMN}": "printf"},
            )
        )
    if not any_point:
        _add_no_data_note(fig)
    logger.debug(
        "built %s figure with %d series (%s points)",
        options.kind,
        len(series),
        sum(len(s.t) for s in series),
    )
    return fig
