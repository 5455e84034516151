"""One clip as contiguous time segments, one per analysis process, and their series joined back into one.

Each segment after the first starts WARM_UP_S early: the tracker finds the
player and settles on him there, and those rows are only used to check the
seam, then dropped. A later segment does not know whom the earlier one
followed, so the join is only trusted where both followed the same person
through the end of the overlap (`seam_problem`). The first segment may go on
past its planned end until that holds (`FloatingSeam`); at any other seam
the caller re-runs sequentially. A wrong join is worse than a slower job.
"""
from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.analysis.pictures import CropReservoir
from worker.analysis.stream import Collected
from worker.analysis.video import DecodeStats

WARM_UP_S = 1.0  # analysed before a segment's first kept frame: acquisition, CONFIRM frames and settling
MIN_SEGMENT_S = 3.0  # a shorter share of the clip is not worth a process (spawn, imports, model load: ~1 s)
CHECK_SHARE = 0.5  # the seam is checked on the last half of the overlap: the later segment has settled there
CHECK_MIN_ROWS = 5
SAME_PERSON = 0.2  # median landmark distance, in body heights, under which two tracks are the same person


@dataclass(frozen=True)
class Segment:
    """Frames with timestamp in [keep_from_ms, until_ms) are kept; analysis starts at warm_from_ms."""

    index: int
    warm_from_ms: float
    keep_from_ms: float
    until_ms: float | None  # None: to the end of the video


WHOLE_CLIP = Segment(0, 0.0, 0.0, None)  # the one segment of a clip analysed in one process


@dataclass(frozen=True)
class Handicap:
    """What a child process pays before its warm-up starts, in seconds of clip that one process analyses
    in the same wall time: the first segment runs in the analysis process, which is ready when the
    children are started, so it is given that much more of the clip."""

    start_s: float = 0.0  # spawn, imports, model load and the seek to its warm-up


def plan(duration_s: float | None, processes: int, warm_up_s: float = WARM_UP_S,
         min_segment_s: float = MIN_SEGMENT_S, handicap: Handicap = Handicap()) -> list[Segment]:
    """Split a clip into at most `processes` segments that end at the same time.

    A segment's cost is its analysed frames (its warm-up included) plus, for
    a child, its handicap. The first has no warm-up and no handicap, so it
    keeps more of the clip than the others. Fewer segments when a kept share
    would be under `min_segment_s`; one when the length is unknown.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, not {processes}")
    if duration_s is None or not np.isfinite(duration_s) or duration_s <= 0:
        return [WHOLE_CLIP]
    for count in range(min(processes, int(duration_s // min_segment_s)), 1, -1):
        bounds = _equal_cost_bounds(duration_s, count, warm_up_s, handicap)
        if min(np.diff(bounds)) >= min_segment_s and bounds[1] > warm_up_s:
            ms = [1000.0 * b for b in bounds]
            return [Segment(k, 1000.0 * (bounds[k] - warm_up_s) if k else 0.0, ms[k],
                            ms[k + 1] if k + 1 < count else None) for k in range(count)]
    return [WHOLE_CLIP]


def _equal_cost_bounds(duration_s: float, count: int, warm_up_s: float, handicap: Handicap) -> list[float]:
    """Segment bounds (0 ... duration_s) where every segment costs the same; each bound is affine in that
    cost, so two trial costs give it exactly."""
    def bounds(cost: float) -> list[float]:
        b = [0.0, cost]
        for _ in range(count - 1):
            warm_from = b[-1] - warm_up_s
            b.append(warm_from + cost - handicap.start_s)
        return b

    at0, at1 = bounds(0.0), bounds(1.0)
    cost = (duration_s - at0[-1]) / (at1[-1] - at0[-1])
    out = bounds(cost)
    out[-1] = duration_s
    return out


@dataclass
class Part:
    """What one segment's process hands back: its rows (warm-up included) and its counters."""

    segment: Segment
    collected: Collected
    decode: DecodeStats
    track: Any  # track.TrackStats at the end of the segment
    timings: dict[str, float]
    marks: list[tuple[float, Any]] = dataclasses.field(default_factory=list)  # (ms, TrackStats before that
    # frame) from the first kept frame on, whenever they changed: the counters of the kept rows wherever
    # the seam ends up (`kept_stats`)

    def first_kept(self) -> int:
        stamps = self.collected.timestamps_ms
        return next((row for row, ms in enumerate(stamps) if ms >= self.segment.keep_from_ms), len(stamps))

    def kept_stats(self) -> Any:
        """The counters of the kept rows only."""
        before = [stats for ms, stats in self.marks if ms <= self.segment.keep_from_ms]
        return stats_delta(self.track, before[-1] if before else type(self.track)())

    def keeping_from(self, keep_ms: float) -> Part:
        """This later segment as if its kept rows began at `keep_ms` (a seam moved on), the check window
        as long as before."""
        shift = keep_ms - self.segment.keep_from_ms
        segment = dataclasses.replace(self.segment, warm_from_ms=self.segment.warm_from_ms + shift,
                                      keep_from_ms=keep_ms)
        return dataclasses.replace(self, segment=segment)


def stats_delta(end: Any, start: Any) -> Any:
    """The counters of a dataclass (TrackStats) accrued between two snapshots; other fields as at the end."""
    changes = {}
    for f in dataclasses.fields(end):
        now, then = getattr(end, f.name), getattr(start, f.name)
        if isinstance(now, int) and not isinstance(now, bool) and f.name != "people_seen":
            changes[f.name] = now - then
        elif isinstance(now, dict):
            changes[f.name] = {k: v - then.get(k, 0) for k, v in now.items() if v - then.get(k, 0)}
    return dataclasses.replace(end, **changes)


def merge_stats(parts: list[Any]) -> Any:
    """Kept-row counters summed, people_seen the largest, anything else from the first segment that set it."""
    first = parts[0]
    fresh = type(first)()
    changes = {}
    for f in dataclasses.fields(first):
        values = [getattr(p, f.name) for p in parts]
        if f.name == "people_seen":
            changes[f.name] = max(values)
        elif isinstance(values[0], int) and not isinstance(values[0], bool):
            changes[f.name] = sum(values)
        elif isinstance(values[0], dict):
            merged: dict = {}
            for value in values:
                for k, v in value.items():
                    merged[k] = merged.get(k, 0) + v
            changes[f.name] = merged
        else:
            changes[f.name] = next((v for v in values if v != getattr(fresh, f.name)), values[0])
    return dataclasses.replace(first, **changes)


def seam_problem(earlier: Part, later: Part) -> str | None:
    """Why the later segment may not follow the earlier one at their seam (None: same person, joinable).

    Joinable when, on the last CHECK_SHARE of the overlap (at least
    CHECK_MIN_ROWS frames), both tracked a pose on every frame and the poses
    are the same person (landmarks within SAME_PERSON body heights), or when
    nobody was ever followed in the earlier segment and the later one has
    nobody there either (both are still searching the same way). Anything
    else (a loss, a re-acquisition, a young track at the seam) depends on
    state the later segment cannot have.
    """
    keep = later.segment.keep_from_ms
    since = keep - CHECK_SHARE * (keep - later.segment.warm_from_ms)
    e, l = earlier.collected, later.collected
    mine: dict[float, int] = {}
    for row in range(bisect.bisect_left(e.timestamps_ms, keep) - 1, -1, -1):
        if e.timestamps_ms[row] < since and len(mine) >= CHECK_MIN_ROWS:
            break
        mine[e.timestamps_ms[row]] = row
    window = [(mine[l.timestamps_ms[b]], b) for b in range(later.first_kept())
              if l.timestamps_ms[b] in mine]
    if not window:
        return "the segments do not overlap"
    renumbering(e, l, window)  # raises where the two decoders disagree on which frames these are
    if not any(s is not None for s in e.samples) and all(l.samples[b] is None for _, b in window):
        return None
    for a, b in window:
        if e.events[a] != "tracked" or l.events[b] != "tracked":
            return (f"at {e.timestamps_ms[a] / 1000:.3f} s the earlier segment's track is {e.events[a]!r} and "
                    f"the later one's {l.events[b]!r}")
    size = np.array([e.width, e.height], dtype=np.float64)
    gaps = []
    for a, b in window:
        xy_a, xy_b = e.samples[a].image[:, :2] * size, l.samples[b].image[:, :2] * size
        height = float(np.ptp(xy_a[:, 1])) or 1.0
        gaps.append(float(np.median(np.linalg.norm(xy_a - xy_b, axis=1))) / height)
    if float(np.median(gaps)) > SAME_PERSON:
        return (f"the segments follow different people at the seam ({np.median(gaps):.2f} body heights apart, "
                f"more than {SAME_PERSON})")
    return None


class FloatingSeam:
    """The first segment goes on past its planned end, frame by frame, until the next segment's rows
    agree with its own (segments.seam_problem): a seam where the player was being searched for or
    re-found then costs the frames to the next steady stretch, not a sequential re-run of the clip.
    The first segment has the tracker state a single pass has, so it may follow anyone through."""

    def __init__(self, segments: list[Segment], finished: Callable[[int], Part]) -> None:
        """`finished(k)` waits for segment k's part."""
        self.segments, self.finished = segments, finished
        self.at_ms: float | None = None  # where the seam is, once found
        self.first_ms: float | None = None  # the first frame past the planned end
        self.last_ms = 0.0  # the last frame asked about
        self.went_on = 0  # frames analysed past the planned end

    @property
    def moved_s(self) -> float:
        """How far past its planned end the first segment went (to the end of the clip: the last frame)."""
        return (self.last_ms - self.first_ms) / 1000.0 if self.first_ms is not None else 0.0

    def __call__(self, collected: Collected, ms: float) -> bool:
        """True: analyse the frame at `ms` here as well."""
        self.first_ms = ms if self.first_ms is None else self.first_ms
        self.last_ms = ms
        moved = self.finished(self._later(ms)).keeping_from(ms)
        earlier = Part(dataclasses.replace(self.segments[0], until_ms=ms), collected, DecodeStats(), None, {})
        if moved.first_kept() < len(moved.collected.samples) and seam_problem(earlier, moved) is None:
            self.at_ms = ms
            return False
        self.went_on += 1
        return True

    def parts(self, first: Part, others: list[Part]) -> list[Part]:
        """The parts to join: the first up to the seam, then the later ones from there on."""
        if self.first_ms is None:
            return [first, *others]
        if self.at_ms is None:  # the first segment went through to the end of the clip
            return [dataclasses.replace(first, segment=dataclasses.replace(first.segment, until_ms=None))]
        later = self._later(self.at_ms)
        moved = dataclasses.replace(first, segment=dataclasses.replace(first.segment, until_ms=self.at_ms))
        return [moved, others[later - 1].keeping_from(self.at_ms), *others[later:]]

    def _later(self, ms: float) -> int:
        """The segment whose kept rows hold the frame at `ms`."""
        return next(k for k, s in enumerate(self.segments) if k and (s.until_ms is None or ms < s.until_ms))


def renumbering(e: Collected, l: Collected, shared: list[tuple[int, int]]) -> int:
    """What to add to the later segment's frame indices (rows `shared` show the same frames, by their
    timestamps) so that they count frames as the earlier one's do.

    A later segment's reader seeks to its start (VideoReader.frames), and a seek numbers frames from their
    timestamps: 0 on a constant frame rate, the frames dropped before on a variable one. The earlier
    segment decoded every frame up to there, so its numbers are a count, as a single pass's are."""
    offsets = {e.frame_index[a] - l.frame_index[b] for a, b in shared}
    if len(offsets) != 1:
        raise RuntimeError(f"the same frames are numbered {sorted(offsets)} apart by two decoders")
    return offsets.pop()


def _renumbered(part: Part, before: Collected) -> Part:
    e, l = before, part.collected
    rows = {ms: row for row, ms in enumerate(e.timestamps_ms)}
    shared = [(rows[ms], b) for b, ms in enumerate(l.timestamps_ms) if ms in rows]
    offset = renumbering(e, l, shared) if shared else 0
    if not offset:
        return part
    collected = dataclasses.replace(l, frame_index=[index + offset for index in l.frame_index])
    decode = dataclasses.replace(part.decode, frames_decoded=part.decode.frames_decoded + offset)
    return dataclasses.replace(part, collected=collected, decode=decode)


def join(parts: list[Part]) -> tuple[Collected, DecodeStats]:
    """One Collected and DecodeStats as a single pass would have them: each part's kept rows, in order."""
    joined = Collected(width=parts[0].collected.width, height=parts[0].collected.height)
    crops = []
    parts = list(parts)
    for k in range(1, len(parts)):
        parts[k] = _renumbered(parts[k], parts[k - 1].collected)
    for part in parts:
        c, start = part.collected, part.first_kept()
        offset = len(joined.samples) - start
        if joined.frame_index and c.frame_index[start:] and c.frame_index[start] <= joined.frame_index[-1]:
            raise RuntimeError(f"segment {part.segment.index} starts at frame {c.frame_index[start]}, not after "
                               f"frame {joined.frame_index[-1]}")
        joined.timestamps_ms += c.timestamps_ms[start:]
        joined.frame_index += c.frame_index[start:]
        joined.samples += c.samples[start:]
        joined.events += c.events[start:]
        crops += [dataclasses.replace(crop, row=crop.row + offset) for crop in c.crops.items if crop.row >= start]
    joined.crops = _thinned(crops, parts[0].collected.crops.capacity)
    decode = DecodeStats(frames_decoded=max(p.decode.frames_decoded for p in parts),
                         frames_analyzed=len(joined.samples),
                         last_timestamp_ms=max(p.decode.last_timestamp_ms for p in parts))
    return joined, decode


def _thinned(crops: list, capacity: int) -> CropReservoir:
    """At most `capacity` pictures, evenly spread over the clip like one reservoir's."""
    reservoir = CropReservoir(capacity)
    if len(crops) > capacity:
        keep = sorted(set(np.linspace(0, len(crops) - 1, capacity).round().astype(int).tolist()))
        crops = [crops[k] for k in keep]
    reservoir.items = crops
    return reservoir
