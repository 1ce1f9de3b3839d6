"""Points that were not written, and why: what every write endpoint reports.

A write refused in part raises :class:`tsdb.errors.WriteRejected` with a :class:`Rejections`
list: every rejection is counted, the first :data:`REJECTIONS_CAP` by position are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from tsdb.faults import DUPLICATE

if TYPE_CHECKING:
    from tsdb.bulk import Batch

__all__ = ["REJECTIONS_CAP", "PosName", "Rejection", "Rejections"]

REJECTIONS_CAP = 1_000
"""Rejections listed in full; beyond this only the count grows."""

PosName = Literal["index", "line"]


@dataclass(frozen=True)
class Rejection:
    """A point (or a whole line) that was not written, and why."""

    pos: int
    reason: str
    key: str | None = None
    t: int | None = None
    v: float | None = None

    def as_dict(self, pos_name: PosName) -> dict[str, Any]:
        """The JSON shape: ``{index|line, key?, t?, v?, reason}``."""
        out: dict[str, Any] = {pos_name: self.pos}
        if self.key is not None:
            out["key"] = self.key
        if self.t is not None:
            out["t"] = self.t
        if self.v is not None:
            out["v"] = self.v
        out["reason"] = self.reason
        return out


class Rejections:
    """Every rejection is counted; the first :data:`REJECTIONS_CAP` by position are kept."""

    def __init__(self, pos_name: PosName, cap: int = REJECTIONS_CAP) -> None:
        self.pos_name: PosName = pos_name
        self.cap = cap
        self.count = 0
        self._items: list[Rejection] = []

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, rejection: Rejection) -> None:
        """Record one rejection."""
        self.count += 1
        self._items.append(rejection)
        if len(self._items) >= 2 * self.cap:
            self._trim()

    def extend(self, rejections: Iterable[Rejection]) -> None:
        """Record several rejections."""
        for rejection in rejections:
            self.add(rejection)

    def reject_points(self, batch: Batch, selector: npt.NDArray[Any], reason: str) -> None:
        """Reject the points of ``batch`` picked by ``selector``, all for one reason."""
        indexes = np.flatnonzero(selector) if selector.dtype == np.bool_ else selector
        self.count += len(indexes)
        room = 2 * self.cap - len(self._items)
        for i in indexes[: max(room, 0)].tolist():
            self._items.append(
                Rejection(
                    int(batch.pos[i]),
                    reason,
                    batch.keys[batch.codes[i]],
                    int(batch.ts[i]),
                    float(batch.vs[i]),
                )
            )
        if len(self._items) >= 2 * self.cap:
            self._trim()

    @property
    def items(self) -> list[Rejection]:
        """The kept rejections, ordered by position."""
        self._trim()
        return list(self._items)

    @property
    def all_duplicates(self) -> bool:
        """True when every kept rejection is a duplicate blocked by the policy."""
        return all(r.reason == DUPLICATE for r in self._items)

    def as_dicts(self) -> list[dict[str, Any]]:
        """The kept rejections in their JSON shape."""
        return [r.as_dict(self.pos_name) for r in self.items]

    def _trim(self) -> None:
        self._items.sort(key=lambda r: r.pos)
        del self._items[self.cap :]
