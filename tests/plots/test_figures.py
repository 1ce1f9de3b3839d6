"""Behaviour of the pure figure builders (no browser needed)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from bokeh.core.property.vectorization import Value
from bokeh.models import (
    BoxZoomTool,
    ColumnDataSource,
    DatetimeAxis,
    HoverTool,
    LinearScale,
    LogScale,
    PanTool,
    PlainText,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.models.annotations import Label, LegendItem, Title
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from plots import PlotKind, PlotOptions, SeriesData, build_figure

T0 = 1_700_000_000_000  # epoch ms


def _series(key: str, n: int = 10, offset: float = 0.0) -> SeriesData:
    return SeriesData(key, [T0 + i * 60_000 for i in range(n)], [offset + i for i in range(n)])


def _glyph_renderers(fig: figure) -> list[GlyphRenderer[Any]]:
    return [r for r in fig.renderers if isinstance(r, GlyphRenderer)]


def _no_data_labels(fig: figure) -> list[Label]:
    return [a for a in fig.center if isinstance(a, Label) and a.text == "no data"]


def _legend_items(fig: figure) -> list[LegendItem]:
    items = fig.legend[0].items
    assert all(isinstance(item, LegendItem) for item in items)
    return [item for item in items if isinstance(item, LegendItem)]


def _legend_labels(fig: figure) -> list[str]:
    labels = [item.label for item in _legend_items(fig)]
    assert all(isinstance(label, Value) for label in labels)
    return [str(label.value) for label in labels if isinstance(label, Value)]


def _column(renderer: GlyphRenderer[Any], name: str) -> list[float]:
    source = renderer.data_source
    assert isinstance(source, ColumnDataSource)
    return list(source.data[name])


@pytest.mark.parametrize("kind", list(PlotKind))
def test_each_series_gets_one_renderer_and_one_legend_item_labelled_by_key(kind: PlotKind) -> None:
    keys = ["cpu:host1", "cpu:host2", "mem:host1"]
    fig = build_figure([_series(k) for k in keys], PlotOptions(kind=kind))

    renderers = _glyph_renderers(fig)
    assert [r.name for r in renderers] == keys
    assert _legend_labels(fig) == keys
    assert [item.renderers for item in _legend_items(fig)] == [[r] for r in renderers]


def test_series_with_the_same_key_keep_separate_legend_items() -> None:
    fig = build_figure([_series("dup"), _series("dup", offset=5)], PlotOptions())
    assert _legend_labels(fig) == ["dup", "dup"]


@pytest.mark.parametrize("n_series", [3, 20])
def test_series_get_distinct_colours(n_series: int) -> None:
    fig = build_figure([_series(f"s{i}") for i in range(n_series)], PlotOptions())
    colours = [r.glyph.line_color for r in _glyph_renderers(fig)]
    assert len(set(colours)) == n_series


def test_clicking_a_legend_entry_hides_the_series() -> None:
    fig = build_figure([_series("a")], PlotOptions())
    assert fig.legend[0].click_policy == "hide"


def test_x_axis_is_datetime_and_y_axis_linear_by_default() -> None:
    fig = build_figure([_series("a")], PlotOptions())
    assert isinstance(fig.xaxis[0], DatetimeAxis)
    assert isinstance(fig.y_scale, LinearScale)


def test_log_y_gives_a_log_axis() -> None:
    fig = build_figure([_series("a", offset=1)], PlotOptions(log_y=True))
    assert isinstance(fig.y_scale, LogScale)


def test_figure_has_fixed_requested_size() -> None:
    fig = build_figure([_series("a")], PlotOptions(width=640, height=320))
    assert (fig.width, fig.height, fig.sizing_mode) == (640, 320, "fixed")


def test_toolbar_offers_pan_zooms_reset_save_and_hover() -> None:
    fig = build_figure([_series("a")], PlotOptions())
    tool_types = {type(t) for t in fig.toolbar.tools}
    expected = {PanTool, BoxZoomTool, WheelZoomTool, ResetTool, SaveTool, HoverTool}
    assert expected <= tool_types


def test_hover_shows_key_time_and_value_without_raw_html() -> None:
    fig = build_figure([_series("a"), _series("b")], PlotOptions())
    (hover,) = [t for t in fig.toolbar.tools if isinstance(t, HoverTool)]
    assert isinstance(hover.tooltips, list)
    tooltips = dict(hover.tooltips)
    assert tooltips["series"] == "$name"  # renderer name == series key
    assert tooltips["time"].startswith("@t{")
    assert hover.formatters["@t"] == "datetime"
    assert tooltips["value"].startswith("@v")
    assert not any("{safe}" in value for value in tooltips.values())
    assert hover.renderers == _glyph_renderers(fig)


def test_user_text_is_plain_text_so_markup_and_tex_are_not_interpreted() -> None:
    evil = "<script>alert(1)</script> $$x$$"
    fig = build_figure([_series("a")], PlotOptions(title=evil, x_label=evil, y_label=evil))
    assert isinstance(fig.title, Title)
    for text in (fig.title.text, fig.xaxis[0].axis_label, fig.yaxis[0].axis_label):
        assert isinstance(text, PlainText)
        assert text.text == evil


def test_empty_series_list_gives_a_figure_with_a_no_data_note() -> None:
    fig = build_figure([], PlotOptions(title="nothing"))
    assert _glyph_renderers(fig) == []
    assert len(_no_data_labels(fig)) == 1


def test_series_with_zero_points_gives_a_no_data_note_but_keeps_its_legend_entry() -> None:
    fig = build_figure([SeriesData("empty", [], [])], PlotOptions(log_y=True))
    assert _legend_labels(fig) == ["empty"]
    assert len(_no_data_labels(fig)) == 1


def test_figure_with_data_has_no_no_data_note() -> None:
    assert _no_data_labels(build_figure([_series("a")], PlotOptions())) == []


def test_none_and_nan_values_become_nan_gaps() -> None:
    series = SeriesData("gappy", [T0, T0 + 1, T0 + 2, T0 + 3], [1.0, None, math.nan, 4.0])
    fig = build_figure([series], PlotOptions())
    values = np.asarray(_column(_glyph_renderers(fig)[0], "v"))
    assert np.isnan(values[1]) and np.isnan(values[2])
    assert values[0] == 1.0 and values[3] == 4.0


def test_times_are_kept_as_epoch_milliseconds() -> None:
    fig = build_figure([_series("a", n=3)], PlotOptions())
    assert _column(_glyph_renderers(fig)[0], "t") == [T0, T0 + 60_000, T0 + 120_000]


def test_mismatched_t_and_v_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        SeriesData("bad", [T0, T0 + 1], [1.0])


def test_non_positive_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        PlotOptions(width=0)


_AWKWARD_VALUES: list[list[list[float | None]]] = [
    [],
    [[]],
    [[None, None]],
    [[math.nan], []],
    [[0.0, -1.0, None]],  # non-positive values on a log axis become gaps too
    [[1.0], [None, 2.0, math.nan, 3.0], [1e300, -1e-300]],
]


@pytest.mark.parametrize("log_y", [False, True])
@pytest.mark.parametrize("kind", list(PlotKind))
@pytest.mark.parametrize("value_lists", _AWKWARD_VALUES)
def test_awkward_values_still_build_a_figure(
    value_lists: list[list[float | None]], kind: PlotKind, log_y: bool
) -> None:
    series = [
        SeriesData(f"s{i}", [T0 + j for j in range(len(vs))], vs)
        for i, vs in enumerate(value_lists)
    ]
    fig = build_figure(series, PlotOptions(kind=kind, log_y=log_y))
    assert len(_glyph_renderers(fig)) == len(series)
    has_point = any(v is not None and not math.isnan(v) for vs in value_lists for v in vs)
    assert bool(_no_data_labels(fig)) is not has_point
