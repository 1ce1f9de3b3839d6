"""Pure figure builders for the analysis jobs: anomalies, correlation heat maps, forecasts.

Like :mod:`plots.figures`, every builder takes data and returns a Bokeh figure without any
I/O, and user text (keys, titles) only ever reaches Bokeh as plain text or escaped tooltip
placeholders. The time-series builders start from :func:`plots.figures.build_figure` (same
axes, legend and hover) and add their layers on top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from bokeh.core.properties import value
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    LinearColorMapper,
    PlainText,
)
from bokeh.models.annotations import BoxAnnotation, ColorBar, LegendItem, Title
from bokeh.models.renderers import GlyphRenderer
from bokeh.palettes import RdBu11
from bokeh.plotting import figure

from . import theme
from .figures import PlotOptions, SeriesData, build_figure

__all__ = [
    "AnomalySeries",
    "ForecastSeries",
    "anomaly_figure",
    "correlation_heatmap",
    "decimate",
    "forecast_figure",
]

ANOMALY_COLOR: Final = "#d62728"
BAND_ALPHA: Final = 0.15
#: Most shaded interval boxes drawn; the anomalous points are all marked regardless.
MAX_BOXES: Final = 200
#: Diverging palette from -1 (blue) through 0 (white) to +1 (red).
HEATMAP_PALETTE: Final = tuple(RdBu11)
#: Cell text on strongly coloured cells is white, else dark.
STRONG: Final = 0.6

FloatArray = npt.NDArray[np.float64]


def decimate(v: Sequence[float] | FloatArray, max_points: int) -> npt.NDArray[np.int64]:
    """Indices of at most ``max_points`` points that keep the shape of a line.

    The points are cut into ``max_points // 2`` runs and each run keeps its lowest and its
    highest point (min/max decimation), so spikes stay visible however long the series.
    """
    values = np.asarray(v, dtype=np.float64)
    n = len(values)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    run = math.ceil(n / max(1, max_points // 2))
    padded = np.full(math.ceil(n / run) * run, np.nan)
    padded[:n] = values
    rows = padded.reshape(-1, run)
    finite = np.isfinite(rows)
    low = np.where(finite, rows, np.inf).argmin(axis=1)
    high = np.where(finite, rows, -np.inf).argmax(axis=1)
    starts = np.arange(len(rows)) * run
    keep = np.concatenate([starts + low, starts + high])
    return np.unique(keep[keep < n]).astype(np.int64)


@dataclass(frozen=True)
class AnomalySeries:
    """One analysed series: its points, the normal band and which points are anomalous."""

    key: str
    t: Sequence[int] | npt.NDArray[np.int64]
    v: Sequence[float] | FloatArray
    baseline: Sequence[float] | FloatArray | None = None
    lower: Sequence[float] | FloatArray | None = None
    upper: Sequence[float] | FloatArray | None = None
    anomalous: Sequence[bool] | npt.NDArray[np.bool_] = ()
    intervals: Sequence[tuple[int, int]] = field(default_factory=tuple)


def anomaly_figure(series: Sequence[AnomalySeries], options: PlotOptions) -> figure:
    """Each series as a line, its anomalous points as red markers on shaded intervals.

    When a series comes with a ``baseline`` (and ``lower``/``upper``), the baseline is drawn
    dashed and the normal band shaded behind it, in the series' colour.
    """
    base = [
        SeriesData(key=s.key, t=np.asarray(s.t).tolist(), v=np.asarray(s.v).tolist())
        for s in series
    ]
    fig = build_figure(base, options)
    colors = theme.palette_for(len(series))
    items: list[LegendItem] = []
    marker_renderers: list[GlyphRenderer[Any]] = []
    boxes = 0
    for s, color in zip(series, colors, strict=True):
        t = np.asarray(s.t, dtype=np.float64)
        if s.baseline is not None and s.lower is not None and s.upper is not None:
            band_source = ColumnDataSource(
                data={
                    "t": t,
                    "baseline": np.asarray(s.baseline, dtype=np.float64),
                    "lower": np.asarray(s.lower, dtype=np.float64),
                    "upper": np.asarray(s.upper, dtype=np.float64),
                }
            )
            band: GlyphRenderer[Any] = fig.varea(
                "t", "lower", "upper", source=band_source, fill_color=color, fill_alpha=BAND_ALPHA
            )
            band.level = "underlay"
            baseline: GlyphRenderer[Any] = fig.line(
                "t",
                "baseline",
                source=band_source,
                line_color=color,
                line_dash="dashed",
                line_width=1,
            )
            items.append(
                LegendItem(label=value(f"{s.key} normal band"), renderers=[band, baseline])
            )
        flags = np.asarray(s.anomalous, dtype=bool)
        if len(flags) and flags.any():
            marked = ColumnDataSource(
                data={"t": t[flags], "v": np.asarray(s.v, dtype=np.float64)[flags]}
            )
            markers: GlyphRenderer[Any] = fig.scatter(
                "t",
                "v",
                source=marked,
                name=s.key,
                marker="circle",
                size=theme.MARKER_SIZE + 3,
                fill_color=ANOMALY_COLOR,
                line_color="white",
            )
            marker_renderers.append(markers)
            items.append(LegendItem(label=value(f"{s.key} anomalies"), renderers=[markers]))
        for start, end in s.intervals:
            if boxes >= MAX_BOXES:
                break
            fig.add_layout(
                BoxAnnotation(
                    left=start,
                    right=max(end, start + 1),
                    fill_color=ANOMALY_COLOR,
                    fill_alpha=0.12,
                    line_alpha=0,
                    level="underlay",
                )
            )
            boxes += 1
    if fig.legend and items:
        fig.legend[0].items = [*fig.legend[0].items, *items]
    _extend_hover(fig, marker_renderers)
    return fig


def _extend_hover(fig: figure, renderers: list[GlyphRenderer[Any]]) -> None:
    """Let the hover tool of :func:`build_figure` describe ``renderers`` too."""
    hover = next((t for t in fig.tools if isinstance(t, HoverTool)), None)
    if hover is None or not renderers:
        return
    existing = list(hover.renderers) if isinstance(hover.renderers, list) else []
    hover.renderers = [*existing, *renderers]


def correlation_heatmap(
    keys: Sequence[str],
    matrix: Sequence[Sequence[float | None]],
    *,
    title: str = "",
    width: int = 700,
    height: int = 600,
) -> figure:
    """A heat map of a correlation matrix: ``matrix[i][j]`` is the cell of ``keys[i]``, ``keys[j]``.

    Colours run from blue (-1) through white (0) to red (+1); undefined cells (None/NaN) are
    grey. Each cell shows its value to two decimals.
    """
    if any(len(row) != len(keys) for row in matrix) or len(matrix) != len(keys):
        raise ValueError(f"matrix must be {len(keys)}x{len(keys)}")
    factors = list(keys)
    xs, ys, rs, text, ink = [], [], [], [], []
    for i, row in enumerate(matrix):
        for j, r in enumerate(row):
            finite = r is not None and math.isfinite(r)
            xs.append(factors[j])
            ys.append(factors[i])
            rs.append(float(r) if finite and r is not None else math.nan)
            text.append(f"{r:.2f}" if finite and r is not None else "n/a")
            strong = finite and r is not None and abs(r) > STRONG
            ink.append("#ffffff" if strong else theme.TEXT_COLOR)
    mapper = LinearColorMapper(palette=HEATMAP_PALETTE, low=-1, high=1, nan_color="#cccccc")
    fig = figure(
        title=Title(
            text=PlainText(text=title),
            text_font=theme.FONT_FAMILY,
            text_font_size=theme.TITLE_FONT_SIZE,
            text_color=theme.TEXT_COLOR,
        ),
        x_range=FactorRange(factors=factors),
        y_range=FactorRange(factors=list(reversed(factors))),
        width=width,
        height=height,
        sizing_mode="fixed",
        tools="save",
        toolbar_location="right",
        background_fill_color=theme.BACKGROUND_COLOR,
        border_fill_color=theme.BACKGROUND_COLOR,
        output_backend="canvas",
    )
    source = ColumnDataSource(data={"a": ys, "b": xs, "r": rs, "text": text, "ink": ink})
    cells = fig.rect(
        "b",
        "a",
        width=1,
        height=1,
        source=source,
        fill_color={"field": "r", "transform": mapper},
        line_color="white",
    )
    if len(keys) <= 15:
        fig.text(
            "b",
            "a",
            text="text",
            source=source,
            text_align="center",
            text_baseline="middle",
            text_font_size="9pt",
            text_color="ink",
        )
    fig.add_tools(HoverTool(renderers=[cells], tooltips=[("series", "@a / @b"), ("r", "@text")]))
    fig.add_layout(ColorBar(color_mapper=mapper, width=12), "right")
    fig.xaxis.major_label_orientation = math.pi / 4 if len(keys) > 4 else 0
    for axis in (fig.xaxis[0], fig.yaxis[0]):
        axis.major_label_text_font = theme.FONT_FAMILY
    fig.grid.grid_line_color = None
    fig.axis.axis_line_color = None
    fig.axis.major_tick_line_color = None
    return fig


@dataclass(frozen=True)
class ForecastSeries:
    """The history of a series and its forecast with a prediction interval."""

    key: str
    t: Sequence[int] | npt.NDArray[np.int64]
    v: Sequence[float] | FloatArray
    forecast_t: Sequence[int] | npt.NDArray[np.int64]
    forecast: Sequence[float] | FloatArray
    lower: Sequence[float] | FloatArray
    upper: Sequence[float] | FloatArray
    interval: float = 0.95


def forecast_figure(series: Sequence[ForecastSeries], options: PlotOptions) -> figure:
    """History as lines, each forecast dashed in the same colour over its shaded interval."""
    base = [
        SeriesData(key=s.key, t=np.asarray(s.t).tolist(), v=np.asarray(s.v).tolist())
        for s in series
    ]
    fig = build_figure(base, options)
    colors = theme.palette_for(len(series))
    items: list[LegendItem] = []
    lines: list[GlyphRenderer[Any]] = []
    for s, color in zip(series, colors, strict=True):
        source = ColumnDataSource(
            data={
                "t": np.asarray(s.forecast_t, dtype=np.float64),
                "v": np.asarray(s.forecast, dtype=np.float64),
                "lower": np.asarray(s.lower, dtype=np.float64),
                "upper": np.asarray(s.upper, dtype=np.float64),
            }
        )
        band: GlyphRenderer[Any] = fig.varea(
            "t", "lower", "upper", source=source, fill_color=color, fill_alpha=BAND_ALPHA * 1.5
        )
        band.level = "underlay"
        line: GlyphRenderer[Any] = fig.line(
            "t",
            "v",
            source=source,
            name=f"{s.key} forecast",
            line_color=color,
            line_dash="dashed",
            line_width=theme.LINE_WIDTH,
        )
        lines.append(line)
        label = f"{s.key} forecast, {s.interval:.0%} interval"
        items.append(LegendItem(label=value(label), renderers=[line, band]))
    if fig.legend and items:
        fig.legend[0].items = [*fig.legend[0].items, *items]
    _extend_hover(fig, lines)
    return fig
