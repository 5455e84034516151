"""The low-pass cutoff for event detection, chosen by activity and analysed frame rate.

The whole-clip metrics use 6 Hz, the textbook choice for gait. Cricket events
are faster: a front knee that flexes and re-braces in 0.15 s, or a bowling
arm near release, carry content up to ~10 Hz, and a 6 Hz zero-phase filter
keeps only about three quarters of a 0.15 s dip (and less of a sharper one).
So events and event metrics are read from series low-passed at:

- bowling 12 Hz (arm speeds near release are the highest in the sport),
- batting 10 Hz (the bat swing is seen through the wrists, which move slower
  than a bowling arm and are noisier, being partly hidden by the bat),
- an undecided activity 12 Hz (keeps the faster movement; the noise cost is small),

never above 0.4 x the analysed frame rate: the filter needs the cutoff
comfortably below the Nyquist frequency (filters.lowpass leaves a series
unfiltered from 1/2.2 of the rate up), so at 25 fps bowling is filtered at
10 Hz. Where the rate caps the cutoff, the sampling itself is already the
limit on timing (one frame is 40 ms at 25 fps).
"""
from __future__ import annotations

ACTIVITY_CUTOFF_HZ = {"bowling": 12.0, "batting": 10.0}
UNDECIDED_CUTOFF_HZ = 12.0
MAX_SHARE_OF_RATE = 0.4


def cutoff_hz(activity: str, fps: float) -> float:
    """Cutoff in Hz for `activity` ("bowling", "batting", anything else: undecided) at `fps` analysed."""
    if not fps > 0:
        raise ValueError(f"the analysed frame rate must be positive, not {fps!r}")
    return min(ACTIVITY_CUTOFF_HZ.get(activity, UNDECIDED_CUTOFF_HZ), MAX_SHARE_OF_RATE * float(fps))
