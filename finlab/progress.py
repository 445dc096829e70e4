"""Progress bars of a sync: one tqdm.auto bar per resource (a notebook widget in Jupyter).

A bar counts objects and pages; for listings in time windows it estimates the total from how much of
each window is listed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finlab.sync import UnitReport


class Progress:
    """One bar for one resource: objects, pages, rate, ETA; counts go into ``report`` too."""

    def __init__(self, report: UnitReport, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.report = report
        self.bar = tqdm(
            desc=report.resource, unit="obj", disable=not enabled, dynamic_ncols=True, file=sys.stderr
        )
        self._spans: dict[tuple[str, int | None], tuple[float, float]] = {}

    def page(self, objects: int, pages: int = 1) -> None:
        """Count ``objects`` fetched in ``pages`` requests."""
        self.report.fetched += objects
        self.report.pages += pages
        self.bar.update(objects)
        self.bar.set_postfix(pages=self.report.pages, refresh=False)

    def total(self, total: int | None) -> None:
        """Set the bar's total (None: unknown)."""
        self.bar.total = total
        widget = getattr(self.bar, "container", None)  # tqdm.notebook: the bar widget keeps its own max
        if widget is not None and total:
            widget.children[1].max = total
        self.bar.refresh()

    def covered(self, key: tuple[str, int | None], covered: float, span: float) -> None:
        """Estimate the total from how much of each time window (``key``) the listings have covered."""
        self._spans[key] = (max(0.0, min(covered, span)), max(span, 1.0))
        done = sum(c for c, _ in self._spans.values())
        whole = sum(s for _, s in self._spans.values())
        if done > 0:
            self.total(max(self.bar.n, round(self.bar.n * whole / done)))

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()
