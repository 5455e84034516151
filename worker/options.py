"""Per-job analysis options: one validated document per job, echoed in its result.

Pure standard library on purpose: the job service validates a submission with
this module before any video is touched, and it must not pay for (or depend on)
numpy, OpenCV or boto3 to do so. The same rules are published as JSON Schema
in `worker/options.schema.json`; keep the two in step (a test checks them
against each other).

A job stored before options existed has none: `parse_options(None)` reads it
as all-`auto` with the environment's frame-rate ceiling, so old rows analyse
as they always did. An invalid document is a permanent error (resubmitting the
same document cannot succeed), and its message names the option, its path in
the document and what is allowed, so the job service can show it as it is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("options.schema.json")

ACTIVITIES = ("auto", "batting", "bowling")
HANDEDNESS = ("auto", "left", "right")
VIEWS = ("auto", "side-on", "front-on", "behind")
DEFAULT_MAX_FPS_CEILING = 60.0
MIN_FPS = 10.0  # below this a 0.15 s event spans one frame: no event could be timed
OPTION_NAMES = ("activity", "handedness", "view", "subject", "max_fps")


class InvalidOptions(ValueError):
    """A job's options break the published rules; permanent, the message is for the user."""

    def __init__(self, option: str, path: str, problem: str) -> None:
        self.option = option
        self.path = path
        super().__init__(f"invalid option {option!r} at {path}: {problem}")


@dataclass(frozen=True)
class Subject:
    """Where the player to analyse is, in 0..1 of the frame: a point, or a box whose corner is (x, y)."""

    x: float
    y: float
    w: float | None = None
    h: float | None = None
    t: float | None = None  # seconds into the video at which the hint holds; None: the first frames

    @property
    def is_box(self) -> bool:
        return self.w is not None

    @property
    def centre(self) -> tuple[float, float]:
        if self.w is None or self.h is None:
            return (self.x, self.y)
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    @property
    def corners(self) -> tuple[float, float, float, float] | None:
        """The box as x0, y0, x1, y1; None for a point."""
        if self.w is None or self.h is None:
            return None
        return (self.x, self.y, self.x + self.w, self.y + self.h)

    def describe(self) -> str:
        where = (f"box at ({self.x:g}, {self.y:g}) of size {self.w:g} x {self.h:g}" if self.is_box
                 else f"point ({self.x:g}, {self.y:g})")
        return where + ("" if self.t is None else f" at {self.t:g} s")

    def to_document(self) -> dict[str, float]:
        doc = {"x": self.x, "y": self.y}
        if self.w is not None and self.h is not None:
            doc.update(w=self.w, h=self.h)
        if self.t is not None:
            doc["t"] = self.t
        return doc


@dataclass(frozen=True)
class JobOptions:
    activity: str = "auto"
    handedness: str = "auto"
    view: str = "auto"
    subject: Subject | None = None
    max_fps: float = DEFAULT_MAX_FPS_CEILING  # the effective cap: the job's own value or the ceiling

    def to_document(self) -> dict[str, Any]:
        """The options as they were applied, for the result document (valid against the schema)."""
        return {
            "activity": self.activity,
            "handedness": self.handedness,
            "view": self.view,
            "subject": None if self.subject is None else self.subject.to_document(),
            "max_fps": self.max_fps,
        }


def _choice(doc: dict, name: str, allowed: tuple[str, ...]) -> str:
    value = doc.get(name)
    if value is None:
        return "auto"
    if not isinstance(value, str) or value not in allowed:
        raise InvalidOptions(name, f"$.{name}", f"got {value!r}; allowed: {', '.join(allowed)}")
    return value


def _number(value: Any, option: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidOptions(option, path, f"got {value!r}; a finite number is needed")
    return float(value)


def _fraction(doc: dict, key: str, *, positive: bool = False) -> float:
    path = f"$.subject.{key}"
    value = _number(doc[key], "subject", path)
    low_ok = value > 0.0 if positive else value >= 0.0
    if not low_ok or value > 1.0:
        bound = "greater than 0 and at most 1" if positive else "between 0 and 1"
        raise InvalidOptions("subject", path, f"got {value!r}; a fraction of the frame {bound} is needed")
    return value


def _subject(value: Any) -> Subject | None:
    if value is None:
        return None
    shape = "{x, y} (a point) or {x, y, w, h} (a box), in 0..1 of the frame, optionally with t in seconds"
    if not isinstance(value, dict):
        raise InvalidOptions("subject", "$.subject", f"got {value!r}; expected {shape}")
    keys = set(value)
    if keys - {"t"} not in ({"x", "y"}, {"x", "y", "w", "h"}):
        raise InvalidOptions("subject", "$.subject", f"got the keys {sorted(keys)}; expected {shape}")
    x, y = _fraction(value, "x"), _fraction(value, "y")
    w = h = t = None
    if "w" in keys:
        w, h = _fraction(value, "w", positive=True), _fraction(value, "h", positive=True)
        if x + w > 1.0 or y + h > 1.0:
            raise InvalidOptions("subject", "$.subject",
                                 f"the box ({x}, {y}, {w}, {h}) reaches outside the frame: x + w and y + h "
                                 "must be at most 1")
    if "t" in keys:
        t = _number(value["t"], "subject", "$.subject.t")
        if t < 0:
            raise InvalidOptions("subject", "$.subject.t", f"got {t!r}; a time in seconds, 0 or more, is needed")
    return Subject(x, y, w, h, t)


def _max_fps(value: Any, ceiling: float) -> float:
    if value is None:
        return ceiling
    fps = _number(value, "max_fps", "$.max_fps")
    if fps < MIN_FPS or fps > ceiling:
        raise InvalidOptions("max_fps", "$.max_fps",
                             f"got {value!r}; allowed: {MIN_FPS:g} to {ceiling:g} frames per second (this "
                             f"service's ceiling); leave it out to analyse at up to {ceiling:g}")
    return fps


def parse_options(doc: dict | None, *, max_fps_ceiling: float = DEFAULT_MAX_FPS_CEILING) -> JobOptions:
    """Validate a job's options document; a missing document means all-`auto` at the ceiling.

    Raises InvalidOptions on the first problem, naming the option. Unknown
    keys are refused rather than ignored: a misspelt `handednes` silently
    ignored would analyse the wrong side and look like a success.
    """
    if max_fps_ceiling < MIN_FPS:
        raise ValueError(f"the max_fps ceiling must be at least {MIN_FPS:g}, not {max_fps_ceiling!r}")
    if doc is None:
        return JobOptions(max_fps=float(max_fps_ceiling))
    if not isinstance(doc, dict):
        raise InvalidOptions("options", "$", f"got {type(doc).__name__}; an object with the keys "
                             f"{', '.join(OPTION_NAMES)} (all optional) is needed")
    unknown = sorted(k for k in doc if k not in OPTION_NAMES)
    if unknown:
        raise InvalidOptions(str(unknown[0]), f"$.{unknown[0]}",
                             f"unknown option; allowed: {', '.join(OPTION_NAMES)}")
    return JobOptions(
        activity=_choice(doc, "activity", ACTIVITIES),
        handedness=_choice(doc, "handedness", HANDEDNESS),
        view=_choice(doc, "view", VIEWS),
        subject=_subject(doc.get("subject")),
        max_fps=_max_fps(doc.get("max_fps"), float(max_fps_ceiling)),
    )


def _flag_number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidOptions(option, f"--{option.replace('_', '-')}", f"{text!r} is not a number") from None


def subject_from_flag(text: str) -> dict[str, float]:
    """`x,y`, `x,y,t`, `x,y,w,h` or `x,y,w,h,t` (fractions of the frame, t in seconds) as a document."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3, 4, 5):
        raise InvalidOptions("subject", "--subject",
                             f"{text!r}: give x,y or x,y,t (a point) or x,y,w,h or x,y,w,h,t (a box)")
    numbers = [_flag_number(p, "subject") for p in parts]
    keys = {2: "xy", 3: "xyt", 4: "xywh", 5: "xywht"}[len(numbers)]
    return dict(zip(keys, numbers))


def options_from_flags(
    activity: str | None = None,
    handedness: str | None = None,
    view: str | None = None,
    subject: str | None = None,
    max_fps: str | None = None,
) -> dict[str, Any]:
    """Command-line flag strings as an options document; flags left out stay out (they mean `auto`)."""
    doc: dict[str, Any] = {}
    for name, value in (("activity", activity), ("handedness", handedness), ("view", view)):
        if value is not None:
            doc[name] = value
    if subject is not None:
        doc["subject"] = subject_from_flag(subject)
    if max_fps is not None:
        doc["max_fps"] = _flag_number(max_fps, "max_fps")
    return doc
