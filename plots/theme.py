"""Visual constants (colours, fonts, sizes) shared by the plot builders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from bokeh.palettes import Category10_10, Category20_20

__all__ = [
    "AXIS_LABEL_FONT_SIZE",
    "BACKGROUND_COLOR",
    "FONT_FAMILY",
    "GRID_COLOR",
    "LEGEND_FONT_SIZE",
    "LINE_WIDTH",
    "MARKER_SIZE",
    "NO_DATA_COLOR",
    "NO_DATA_FONT_SIZE",
    "NO_DATA_TEXT",
    "TEXT_COLOR",
    "TITLE_FONT_SIZE",
    "palette_for",
]

#: Tableau-like qualitative palette; distinct hues, used for up to 10 series.
SMALL_PALETTE: Final[Sequence[str]] = tuple(Category10_10)
#: Larger qualitative palette for 11..20 series (cycled beyond that).
LARGE_PALETTE: Final[Sequence[str]] = tuple(Category20_20)

FONT_FAMILY: Final = "Helvetica, Arial, sans-serif"
TITLE_FONT_SIZE: Final = "14pt"
AXIS_LABEL_FONT_SIZE: Final = "11pt"
LEGEND_FONT_SIZE: Final = "9pt"
TEXT_COLOR: Final = "#333333"
BACKGROUND_COLOR: Final = "#ffffff"
GRID_COLOR: Final = "#e5e5e5"
LINE_WIDTH: Final = 1.8
MARKER_SIZE: Final = 5
NO_DATA_TEXT: Final = "no data"
NO_DATA_COLOR: Final = "#888888"
NO_DATA_FONT_SIZE: Final = "16pt"


def palette_for(n_series: int) -> list[str]:
    """Return ``n_series`` colours, distinct for up to 20 series and cycling beyond."""
    base = SMALL_PALETTE if n_series <= len(SMALL_PALETTE) else LARGE_PALETTE
    return [base[i % len(base)] for i in range(n_series)]
