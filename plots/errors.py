"""Domain exceptions raised by the plots package.

    PlotsError
    └── RenderError   Chromium/chromedriver missing or broken, or a render failed twice

Invalid input (mismatched ``t``/``v`` lengths, non-positive sizes) raises ``ValueError``.
"""

from __future__ import annotations

__all__ = ["PlotsError", "RenderError"]


class PlotsError(Exception):
    """Base class for all errors raised by :mod:`plots`."""


class RenderError(PlotsError):
    """A figure could not be rendered (e.g. Chromium or chromedriver is missing or broken)."""
