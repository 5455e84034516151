"""Following one player through the clip with a crop that moves with him, and never switching to someone else.

Once the subject is acquired, each frame is cut to a square around where he is
predicted to be (CROP times his body size, scaled to CROP_SIDE px) and the
VIDEO-mode landmarker tracks him inside it: one model call a frame, the player
always large for the model whatever his size in the frame. Landmarks are mapped
back to frame pixels.

Every pose, tracked or re-found, must pass the identity gate before it is
used: its position near the prediction, its size near the track's, and the
colours of its torso like the track's. A pose that fails is someone else (the
landmarker can slide onto a person walking past) and is not mixed in. When the
player is lost, he is searched for first in a window around the prediction,
then over the whole frame at his own scale (tiles, every SCAN_EVERY_S seconds
so that a player off screen does not cost a full scan every frame).
"""
from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np

from worker.analysis import acquire, quality
from worker.analysis.acquire import Person
from worker.analysis.identity import SIZE_RATIO, alike, identity_gate, torso_colours
from worker.analysis.pose import PoseFinder, PoseTracker
from worker.analysis.subject import choose
from worker.analysis.track_report import Observation, TrackStats
from worker.options import Subject
from worker.analysis.window import Window

CROP = 2.2  # crop side, in body sizes
ALPHA, BETA = 0.2, 0.02  # alpha-beta filter of the crop's centre and side
RESIZED = 0.2  # a player this much larger or smaller than the crop is made for is re-read on a new crop
RECENTRE = 0.15  # a prediction this share of the crop side off the filter's guess restarts the filter
CROP_FIRST = 2.5  # the crop that re-reads a find from a search: it may be only part of the body
CROP_SIDE = 384  # px the crop is scaled to
NEAR = 3.5  # window searched around the prediction when lost, in body sizes
SCAN_EVERY_S = 0.4  # at most one whole-frame search per this much video while lost or not yet found
MIN_SIZE_PX = 24.0
WARM_UP = 4  # extra passes over a new find's crop: the first poses after a detection are off
WARM_UP_STEP_MS = 33.0
CONFIRM = 3  # a new track must be followed this many frames (the acquisition included) to count
BACKFILL_S = 2.0  # frames kept while searching, to track a newly found subject backwards
GONE_S = 3.0  # lost this long, the subject has left: nobody found later can be proven to be him


class SubjectTracker:
    """Per-frame state machine: find the subject, then follow him with one crop a frame.

    While nobody is followed, the last BACKFILL_S of frames are kept; once the
    subject is found and confirmed, he is tracked backwards through them, so a
    player found on the tenth frame is not missing from the first nine. A new track that is
    lost again within CONFIRM frames was not a person (a lamp, a poster): its
    poses are withdrawn and the search goes on.
    """

    def __init__(self, tracker: PoseTracker, finder: PoseFinder, hint: Subject | None = None) -> None:
        self.tracker, self.finder, self.hint = tracker, finder, hint
        self.stats = TrackStats()
        self._centre: np.ndarray | None = None
        self._velocity = np.zeros(2)
        self._size = 0.0
        self._reference: np.ndarray | None = None
        self._lost = 0
        self._age = 0  # poses since the track was (re)started
        self._last_scan_ms: float | None = None
        self._scans = 0
        self._buffer: deque[tuple[int, np.ndarray, float]] = deque()
        self._window: Window | None = None
        self._crop_state: tuple[np.ndarray, np.ndarray] | None = None
        self._colours: np.ndarray | None = None  # torso colours of the last pose that passed the gate
        self._lost_since_ms: float | None = None
        self._frame = 0
        self._start: tuple[np.ndarray, np.ndarray, float] = (np.zeros(2), np.zeros(2), 0.0)
        self._started_at = 0
        self._steady_height = 0.0
        self._steady_size = 0.0  # his size when last whole in the picture: what a lost player is sought as
        self._lookalikes = 0  # others seen whose torso colours pass the identity gate's colour test
        self._rivals = 0  # others who passed the identity gate's position and size tests in the last search
        self._confirmed = False  # followed CONFIRM frames since acquired: a person, not a false start
        self._fresh = 0  # poses since the landmarker last started afresh on him (found, re-found, reframed)

    @property
    def following(self) -> bool:
        return self._centre is not None

    def _predicted(self) -> np.ndarray:
        return self._centre + self._velocity * (1 + self._lost)

    def step(self, bgr: np.ndarray, timestamp_ms: float) -> Observation:
        self._frame += 1
        if not self._confirmed:
            self._remember(bgr, timestamp_ms)
        if not self.following:
            return self._acquire(bgr, timestamp_ms)
        predicted = np.clip(self._predicted(), 0.0, [bgr.shape[1], bgr.shape[0]])  # one who left is at the edge
        if self._lost == 0:
            # a young track's first pose may be part of the body only: its gate is as loose as after a loss
            person = self._follow(bgr, timestamp_ms, predicted, 0 if self._age >= CONFIRM else 2)
            if person is not None:
                self._lost_since_ms = None
                person, event = self._steadied(bgr, timestamp_ms, person)
                self._update(person, self._colours, continuous=True)
                if not quality.cut_by_side(person.xy[None], bgr.shape[1], person.sample.visibility[None])[0]:
                    self._steady(person)
                earlier: tuple[tuple[int, Person], ...] = ()
                if not self._confirmed and self._age >= CONFIRM:
                    self._confirmed = True
                    earlier = self._backwards(timestamp_ms)
                return Observation(person, event, earlier)
            self._lost = 1
            if not self._confirmed:
                self._abandon()
                return Observation(None, "lost", withdrawn=True)
        else:
            self._lost += 1
        if self._lost_since_ms is None:
            self._lost_since_ms = timestamp_ms
        if timestamp_ms - self._lost_since_ms > GONE_S * 1000.0:
            self.stats.gone_at_s = round(self._lost_since_ms / 1000.0, 3)
            return Observation(None, "gone")
        return self._reacquire(bgr, timestamp_ms, predicted)

    def finish(self) -> Observation | None:
        """At the end of the clip: a track too young to be confirmed is withdrawn."""
        if self.following and not self._confirmed:
            self._abandon()
            return Observation(None, "lost", withdrawn=True)
        return None

    def _forget(self) -> None:
        self.tracker.forget()
        self._window = None

    def _window_for(self, predicted: np.ndarray) -> Window:
        """The crop for this frame, from an alpha-beta filter on the player's centre and size.

        VIDEO mode smooths landmarks over time in the coordinates of the image
        it is given; a crop that followed the noisy box every frame would show
        the player shaking, and the smoothing would lag behind that shake
        (measured: elbow angles swinging by 25 degrees on a still photo), while
        a crop that jumps now and then disturbs it at every jump. The filter
        moves the crop's centre smoothly with the player's own velocity: a
        running player stands still in it, a still one keeps a still crop, and
        box noise is damped to a fraction of a pixel. Its side stays what the
        landmarker's last fresh start was given (see `_steadied`).
        """
        side = max(CROP * self._size, MIN_SIZE_PX)
        if self._window is None or self._crop_state is None:
            self._crop_state = np.array([*predicted, side]), np.zeros(3)
        else:
            state, rate = self._crop_state
            guess = state + rate
            error = np.array([*predicted, side]) - guess
            if float(np.abs(error[:2]).max()) > RECENTRE * state[2]:  # lost the thread: start over here
                state, rate = np.array([*predicted, side]), np.zeros(3)
            else:
                state, rate = guess + ALPHA * error, rate + BETA * error
            self._crop_state = state, rate
        cx, cy, width = self._crop_state[0]
        self._window = Window.square(cx, cy, width, CROP_SIDE)
        return self._window

    def _follow(self, bgr: np.ndarray, timestamp_ms: float, predicted: np.ndarray, lost: int,
                tracker: PoseTracker | None = None) -> Person | None:
        """One crop around `predicted`, the VIDEO landmarker in it, the identity gate on what it returns."""
        tracker = tracker or self.tracker
        window = self._window_for(predicted)
        sample = tracker.detect_rgb(cv2.cvtColor(window.cut(bgr), cv2.COLOR_BGR2RGB), timestamp_ms)
        if sample is None:
            return None
        person = acquire.located(sample, window, (bgr.shape[1], bgr.shape[0]))
        colours = torso_colours(bgr, person)
        verdict = identity_gate(person, colours, predicted, self._size, self._reference, lost)
        if verdict.ok:
            self._colours = colours
            return person
        self.stats.reject(verdict)
        tracker.forget()
        self._window = None
        return None

    def _refined(self, bgr: np.ndarray, timestamp_ms: float, found: Person) -> Person:
        """The find again, from the VIDEO landmarker on a crop around it, and the landmarker settled there.

        A search window or tile may show the player small, and its pose can be crumpled: a first crop
        (CROP_FIRST sizes) shows him large. A second, of CROP sizes around that re-read, measures him as
        tracking will (the same player reads 15-25 % larger in it than in the first); the crop he is then
        tracked in (CROP sizes around the second read) is passed WARM_UP times, so that the landmarker's
        tracking, which smooths in the crop's coordinates, has settled on exactly the picture it will go on
        seeing (measured: without the passes the next 5-8 poses were off by up to 30 degrees at the elbow; with
        a crop of another size than the tracking crop, the elbow drifted by 10-15 degrees for half a second
        while the crop caught up). If a crop shows someone else (or nobody), the find is kept and the landmarker
        starts afresh in the next frame's crop: each read tracks from the one before, and VIDEO mode often does
        not carry that across crops of different sizes (counted on two test clips: 7 of 8 re-reads stopped
        early). The settling gate covers both ways.
        """
        self._forget()
        read: tuple[Person, Window | None] | None = (found, None)
        for crop, passes in ((CROP_FIRST, 1), (CROP, 1), (CROP, WARM_UP)):
            read = self._read(bgr, timestamp_ms, read[0], found, crop, passes)
            if read is None:
                self._forget()
                return found
        person, self._window = read
        self._crop_state = np.array([self._window.x0 + self._window.w / 2, self._window.y0 + self._window.h / 2,
                                     self._window.w]), np.zeros(3)
        return person

    def _read(self, bgr: np.ndarray, timestamp_ms: float, around: Person, found: Person, crop: float,
              passes: int) -> tuple[Person, Window] | None:
        """The landmarker on a crop `crop` sizes around `around`, `passes` times; None unless it shows `found`."""
        window = Window.square(*around.centre, max(crop * around.size, MIN_SIZE_PX), CROP_SIDE)
        rgb = cv2.cvtColor(window.cut(bgr), cv2.COLOR_BGR2RGB)
        for k in range(passes):  # the same picture again: the landmarker's tracking settles on it
            sample = self.tracker.detect_rgb(rgb, timestamp_ms + k * WARM_UP_STEP_MS)
            if sample is None:
                return None
        person = acquire.located(sample, window, (bgr.shape[1], bgr.shape[0]))
        moved = float(np.linalg.norm(person.centre - found.centre)) / max(person.size, found.size)
        if moved > 0.5 or not 1 / SIZE_RATIO <= person.size / found.size <= SIZE_RATIO:
            return None
        return person, window

    def _steadied(self, bgr: np.ndarray, timestamp_ms: float, person: Person) -> tuple[Person, str]:
        """A player more than RESIZED off the crop's size (he grew or shrank faster than the crop follows) is
        re-read on a crop sized for him now ("reframed"): the landmarker smooths in the crop's coordinates,
        so a crop that grows under it makes it drift (a player walking back in: a still elbow read 150-160
        degrees for 15 frames against 166-171 before); a smooth zoom the crop's filter follows. Not while it
        settles after a fresh start (poses the settling gate drops): its extent moves then (600 and 740 px
        on alternate frames at 1080p), and each re-read cost 7 model calls and restarted the settling."""
        self._fresh += 1
        state = self._crop_state[0] if self._crop_state is not None else None
        if (state is None or self._fresh < quality.SETTLE_FRAMES
                or abs(math.log(CROP * person.size / state[2])) < math.log(1 + RESIZED)):
            return person, "tracked"
        self._fresh = 0
        person = self._refined(bgr, timestamp_ms, person)
        self._size = 0.0  # his size is what the re-read says, as after a find
        return person, "reframed"

    def _settled_unless_refined(self) -> int:
        """A find no crop confirmed gave the landmarker no fresh start to settle: it may reframe at once (a
        small player's box 50 px off: the next crop lost him, and so at every search for 3 s)."""
        return 0 if self._window is not None else quality.SETTLE_FRAMES

    def _remember(self, bgr: np.ndarray, timestamp_ms: float) -> None:
        self._buffer.append((self._frame, bgr, timestamp_ms))
        while self._buffer and timestamp_ms - self._buffer[0][2] > BACKFILL_S * 1000.0:
            self._buffer.popleft()

    def _backwards(self, now_ms: float) -> tuple[tuple[int, Person], ...]:
        """Once a new track is confirmed, follow it back through the frames kept from before it began.

        A second landmarker does it, so the one tracking forwards keeps its
        state. Returns (frames before the current one, pose) pairs, newest
        first, up to where he is lost.
        """
        kept = [(frame, bgr, ms) for frame, bgr, ms in self._buffer if frame < self._started_at]
        self._buffer.clear()
        if not kept:
            return ()
        found: list[tuple[int, Person]] = []
        state = (self._centre, self._velocity, self._size, self._age, self._window, self._reference, self._crop_state)
        self._centre, self._velocity, self._size = self._start
        self._window = None
        with PoseTracker(options=self.tracker.options, model=self.tracker.model) as back:
            for frame, bgr, ms in reversed(kept):
                person = self._follow(bgr, now_ms + (now_ms - ms), self._centre, 0, back)
                if person is None:
                    break
                self._update(person, self._colours, continuous=True)
                found.append((self._frame - frame, person))
        (self._centre, self._velocity, self._size, self._age, self._window, self._reference,
         self._crop_state) = state
        return tuple(found)

    def _abandon(self) -> None:
        self._window = None
        self._centre, self._size, self._reference, self._age, self._lost = None, 0.0, None, 0, 0
        self._velocity = np.zeros(2)
        self.stats.false_starts += 1
        self.stats.acquisitions -= 1

    def _acquire(self, bgr: np.ndarray, timestamp_ms: float) -> Observation:
        hint = self.hint
        if hint is not None and hint.t is not None and timestamp_ms < hint.t * 1000.0 - 1.0:
            return Observation(None, "waiting")
        if not self._scan_due(timestamp_ms):
            return Observation(None, "lost")
        height, width = bgr.shape[:2]
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self._scans += 1
        result = acquire.scan(self.finder, rgb, lambda people: choose(people, hint, width, height)[0] is not None,
                              shifted=self._scans % 2 == 0)
        self._searched(result.windows)
        self.stats.people_seen = max(self.stats.people_seen, len(result.people))
        person, reason = choose(result.people, hint, width, height)
        if person is None:
            if result.people:
                self.stats.subject_reason = reason
            return Observation(None, "lost")
        chosen = torso_colours(bgr, person)
        self._lookalikes = sum(alike(torso_colours(bgr, other), chosen) for other in result.people
                               if other is not person and not acquire.same_person(other, person))
        person = self._refined(bgr, timestamp_ms, person)
        self.stats.subject_reason = reason
        self.stats.subject_time_s = round(timestamp_ms / 1000.0, 3)
        x0, y0, x1, y1 = person.box
        self.stats.subject_box = (x0 / width, y0 / height, x1 / width, y1 / height)
        self.stats.acquisitions += 1
        self._velocity = np.zeros(2)
        self._reference = None
        self._size = 0.0
        self._age, self._fresh = 0, self._settled_unless_refined()
        self._update(person, torso_colours(bgr, person), continuous=False)
        self._steady(person)
        self._start = (self._centre, self._velocity, self._size)
        self._started_at, self._confirmed = self._frame, False
        return Observation(person, "acquired")

    def _reacquire(self, bgr: np.ndarray, timestamp_ms: float, predicted: np.ndarray) -> Observation:
        height, width = bgr.shape[:2]
        self._size = self._steady_size or self._size  # not the half body he was while walking out
        near = Window.square(*predicted, max(NEAR * self._size, 2 * MIN_SIZE_PX), acquire.TILE_SIDE)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        candidates = acquire.find_in(self.finder, rgb, [near])
        self._searched(1)
        person = self._gated(bgr, candidates, predicted)
        if person is None and self._scan_due(timestamp_ms):
            share = min(max(self._steady_height / height, acquire.LEVELS[-1]), acquire.LEVELS[0])
            self._scans += 1
            windows = acquire.level_windows(width, height, share, shifted=self._scans % 2 == 0)
            person = self._gated(bgr, acquire.find_in(self.finder, rgb, windows), predicted)
            self._searched(len(windows), count_frame=False)
        if person is None:
            return Observation(None, "lost")
        rivals = self._rivals
        person = self._refined(bgr, timestamp_ms, person)
        self.stats.reacquisitions += 1
        self._lost_since_ms = None
        self._lost = 0
        self._age, self._fresh = 0, self._settled_unless_refined()
        self._velocity = np.zeros(2)
        self._size = 0.0  # his size is what he is now, as after the first find
        self._update(person, torso_colours(bgr, person), continuous=False)
        self._steady(person)
        if rivals or self._lookalikes:
            # someone else of his size stood where he could have come back (only the shirt colours chose),
            # or someone dressed like him has been seen (the colours cannot choose): a 64-bin histogram
            # does not tell two people in dark clothes apart. Who this is cannot be proven, nor anyone after.
            self.stats.uncertain += 1
            if self.stats.uncertain_at_s is None:
                self.stats.uncertain_at_s = round(timestamp_ms / 1000.0, 3)
            return Observation(person, "reacquired_uncertain")
        return Observation(person, "reacquired")

    def _gated(self, bgr: np.ndarray, candidates: list[Person], predicted: np.ndarray) -> Person | None:
        """The nearest candidate that passes the identity gate; `_rivals` counts the others who could have
        been him by where they are and their size, so that only their shirts told them apart."""
        passed, placed = [], 0
        for person in candidates:
            colours = torso_colours(bgr, person)
            verdict = identity_gate(person, colours, predicted, self._size, self._reference, self._lost)
            placed += identity_gate(person, None, predicted, self._size, None, self._lost).ok
            if verdict.ok:
                passed.append((float(np.linalg.norm(person.centre - predicted)), person))
            else:
                self.stats.reject(verdict)
                if verdict.test == "position" and alike(colours, self._reference):
                    self._lookalikes += 1  # dressed like him, elsewhere
        self._rivals = placed - 1 if passed else placed
        return min(passed, key=lambda pair: pair[0])[1] if passed else None

    def _scan_due(self, timestamp_ms: float) -> bool:
        if self._last_scan_ms is not None and timestamp_ms - self._last_scan_ms < SCAN_EVERY_S * 1000.0:
            return False
        self._last_scan_ms = timestamp_ms
        return True

    def _searched(self, calls: int, count_frame: bool = True) -> None:
        self.stats.search_calls += calls
        self.stats.frames_searching += int(count_frame)

    def _steady(self, person: Person) -> None:
        x0, y0, x1, y1 = person.box
        self._steady_size, self._steady_height = self._size, y1 - y0

    def _update(self, person: Person, colours: np.ndarray | None, continuous: bool) -> None:
        centre = person.centre
        if continuous:
            self._velocity = 0.7 * self._velocity + 0.3 * (centre - self._centre)
        self._centre = centre
        self._size = person.size if self._size == 0 else 0.6 * person.size + 0.4 * self._size
        self._age += 1
        if colours is not None:
            self._reference = colours if self._reference is None else 0.95 * self._reference + 0.05 * colours
