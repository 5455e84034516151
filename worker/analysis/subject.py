"""Which person to analyse: the one the caller pointed at, else the largest clearly visible one.

A cricket clip shows a batter, a keeper, an umpire, a bowler and a non-striker;
the metrics are only meaningful for one of them. The caller can say which with
a hint, the job's `subject` option (worker.options.Subject): a point or a
box in shares of the frame, optionally with the time at which it holds.
Without a hint the rule is: in the first frame where anyone is found, the person with the largest body box (its longer side),
among those whose main joints the model calls visible. A coach filming side-on
usually frames the player they coach largest; when not (an umpire nearer the
camera), the hint is the fix.
"""
from __future__ import annotations

from worker.analysis.acquire import Person
from worker.options import Subject

HINT_MARGIN = 0.1  # a point within this share of the body box outside it still names that person


def distance(hint: Subject, person: Person, width: int, height: int) -> float | None:
    """How far the hint is from `person` in body sizes (0: right on), or None when it does not name them.

    A box names the person whose body box it overlaps most (IoU at least 0.2);
    a point names a person whose body box (with HINT_MARGIN) contains it.
    """
    x0, y0, x1, y1 = person.box
    size = person.size
    corners = hint.corners
    if corners is not None:
        hx0, hy0, hx1, hy1 = corners[0] * width, corners[1] * height, corners[2] * width, corners[3] * height
        ix = max(0.0, min(x1, hx1) - max(x0, hx0))
        iy = max(0.0, min(y1, hy1) - max(y0, hy0))
        inter = ix * iy
        union = (x1 - x0) * (y1 - y0) + (hx1 - hx0) * (hy1 - hy0) - inter
        iou = inter / union if union > 0 else 0.0
        return None if iou < 0.2 else 1.0 - iou
    px, py = hint.x * width, hint.y * height
    pad = HINT_MARGIN * size
    if not (x0 - pad <= px <= x1 + pad and y0 - pad <= py <= y1 + pad):
        return None
    cx, cy = person.centre
    return float(((px - cx) ** 2 + (py - cy) ** 2) ** 0.5 / size)


def choose(people: list[Person], hint: Subject | None, width: int, height: int) -> tuple[Person | None, str]:
    """The subject among `people`, and why it was chosen (or why nobody was)."""
    if not people:
        return None, "nobody found"
    if hint is not None:
        named = [(d, p) for p in people if (d := distance(hint, p, width, height)) is not None]
        if not named:
            return None, f"none of the {len(people)} people found is at the subject {hint.describe()}"
        _, person = min(named, key=lambda pair: pair[0])
        return person, f"the person at the subject {hint.describe()} given by the caller"
    person = max(people, key=lambda p: p.size)
    share = person.size / height
    others = "" if len(people) == 1 else f" of {len(people)} people found"
    return person, (f"the largest person{others} (body box {share:.0%} of the frame height); "
                    "pass a subject point to analyse someone else")
