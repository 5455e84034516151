"""What the subject tracker (track.py) reports: each frame's outcome, and the counts the result shows.

Kept apart from the tracker so that the streaming pass and the result
document can read them without the tracking machinery.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from worker.analysis.acquire import Person
from worker.analysis.identity import Verdict


@dataclass
class TrackStats:
    """What the result reports about the tracking."""

    people_seen: int = 0
    subject_reason: str = "nobody was found"
    subject_time_s: float | None = None
    subject_box: tuple[float, float, float, float] | None = None  # normalised
    acquisitions: int = 0
    reacquisitions: int = 0
    frames_searching: int = 0  # frames in which a search (not one crop) ran
    search_calls: int = 0  # model calls spent searching
    rejected: int = 0  # poses the identity gate turned away
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    false_starts: int = 0  # tracks lost again within track.CONFIRM frames: withdrawn
    gone_at_s: float | None = None  # lost for track.GONE_S from then on: the search stopped
    uncertain: int = 0  # re-acquisitions with someone else of his size where he could have been
    uncertain_at_s: float | None = None  # the first of them: from then on, who is followed cannot be proven

    def reject(self, verdict: Verdict) -> None:
        self.rejected += 1
        self.rejected_reasons[verdict.test] = self.rejected_reasons.get(verdict.test, 0) + 1


@dataclass(frozen=True)
class Observation:
    """One frame's outcome. `earlier`: poses for frames before this one, newest first (tracked backwards
    once a new track is confirmed); `withdrawn`: the current track's poses are taken back (a false start)."""

    person: Person | None
    event: str  # "tracked" | "acquired" | "reacquired" | "reacquired_uncertain" | "reframed" | "lost" | "waiting" | "gone"
    earlier: tuple[tuple[int, Person], ...] = ()  # (frames before this one, pose)
    withdrawn: bool = False
