"""Which person to analyse: the one the caller pointed at, else the largest clearly visible one.

A cricket clip shows a batter, a keeper, an umpire, a bowler and a non-striker;
the metrics are only meaningful for one of them. The caller can say which with
a hint: a point (or box) in normalised frame coordinates, optionally with the
time at which it holds. Without a hint the rule is: in the first frame where
anyone is found, the person with the largest body box (its longer side),
among those whose main joints the model calls visible. A coach filming side-on
usually frames the player they coach largest; when not (an umpire nearer the
camera), the hint is the fix.
"""
from __future__ import annotations

from dataclasses import dataclass

from worker.analysis.acquire import Person

HINT_MARGIN = 0.1  # a point within this share of the body box outside it still names that person


@dataclass(frozen=True)
class SubjectHint:
    """A point (x, y) or a box (x, y, x1, y1), normalised to the frame (0..1); `t`: seconds, or None."""

    x: float
    y: float
    x1: float | None = None
    y1: float | None = None
    t: float | None = None

    def __post_init__(self) -> None:
        for value in (self.x, self.y, self.x1, self.y1):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"subject coordinates are shares of the frame, 0..1, not {value}")
        if (self.x1 is None) != (self.y1 is None):
            raise ValueError("a subject box needs both corners")
        if self.x1 is not None and (self.x1 <= self.x or self.y1 <= self.y):
            raise ValueError("a subject box is x0,y0,x1,y1 with x1 > x0 and y1 > y0")
        if self.t is not None and self.t < 0:
            raise ValueError(f"subject time must be >= 0 s, not {self.t}")

    @classmethod
    def parse(cls, text: str) -> SubjectHint:
        """'x,y' or 'x,y,t' (a point), 'x0,y0,x1,y1' or 'x0,y0,x1,y1,t' (a box)."""
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise ValueError(f"subject must be numbers separated by commas, not {text!r}") from None
        if len(values) == 2:
            return cls(*values)
        if len(values) == 3:
            return cls(values[0], values[1], t=values[2])
        if len(values) in (4, 5):
            return cls(*values)
        raise ValueError(f"subject is x,y[,t] or x0,y0,x1,y1[,t], not {text!r}")

    @property
    def is_box(self) -> bool:
        return self.x1 is not None

    def describe(self) -> str:
        where = (f"box ({self.x:g}, {self.y:g})-({self.x1:g}, {self.y1:g})" if self.is_box
                 else f"point ({self.x:g}, {self.y:g})")
        return where + ("" if self.t is None else f" at {self.t:g} s")

    def as_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "x1": self.x1, "y1": self.y1, "t": self.t}

    def distance(self, person: Person, width: int, height: int) -> float | None:
        """How far the hint is from `person` in body sizes (0: right on), or None when it does not name them."""
        x0, y0, x1, y1 = person.box
        size = person.size
        if self.is_box:
            hx0, hy0, hx1, hy1 = self.x * width, self.y * height, self.x1 * width, self.y1 * height
            ix = max(0.0, min(x1, hx1) - max(x0, hx0))
            iy = max(0.0, min(y1, hy1) - max(y0, hy0))
            inter = ix * iy
            union = (x1 - x0) * (y1 - y0) + (hx1 - hx0) * (hy1 - hy0) - inter
            iou = inter / union if union > 0 else 0.0
            return None if iou < 0.2 else 1.0 - iou
        px, py = self.x * width, self.y * height
        pad = HINT_MARGIN * size
        if not (x0 - pad <= px <= x1 + pad and y0 - pad <= py <= y1 + pad):
            return None
        cx, cy = person.centre
        return float(((px - cx) ** 2 + (py - cy) ** 2) ** 0.5 / size)


def choose(people: list[Person], hint: SubjectHint | None, width: int, height: int) -> tuple[Person | None, str]:
    """The subject among `people`, and why it was chosen (or why nobody was)."""
    if not people:
        return None, "nobody found"
    if hint is not None:
        named = [(d, p) for p in people if (d := hint.distance(p, width, height)) is not None]
        if not named:
            return None, f"none of the {len(people)} people found is at the subject {hint.describe()}"
        distance, person = min(named, key=lambda pair: pair[0])
        return person, f"the person at the subject {hint.describe()} given by the caller"
    person = max(people, key=lambda p: p.size)
    share = person.size / height
    others = "" if len(people) == 1 else f" of {len(people)} people found"
    return person, (f"the largest person{others} (body box {share:.0%} of the frame height); "
                    "pass a subject point to analyse someone else")
