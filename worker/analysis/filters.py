"""Zero-phase low-pass filtering of irregularly sampled series with gaps.

Pose landmarks jitter by a few pixels from frame to frame; human movement in a
cricket shot or delivery has little content above ~6 Hz, so a 6 Hz Butterworth
low-pass (the usual choice in sports biomechanics) removes the jitter without
flattening the movement. The filter runs forward and backward (sosfiltfilt),
so peaks are not shifted in time.

Frames can be missing (no pose, joint hidden, frame-rate cap) and timestamps
need not be evenly spaced, while a Butterworth filter needs a uniform grid:
each run of samples without a long gap is interpolated onto a uniform grid at
its median rate, filtered, and read back at the original times. Samples that
were missing stay missing.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

CUTOFF_HZ = 6.0
ORDER = 2
MAX_GAP_S = 0.25  # a longer hole splits the series: interpolating across it would invent movement


def lowpass(
    t: np.ndarray,
    values: np.ndarray,
    cutoff_hz: float = CUTOFF_HZ,
    order: int = ORDER,
    max_gap_s: float = MAX_GAP_S,
) -> np.ndarray:
    """Low-pass `values` sampled at times `t` (seconds); NaN marks a missing sample.

    A run too short to filter, or sampled too slowly for the cutoff to mean
    anything (below 2.2x the cutoff), is returned unfiltered.
    """
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    out = np.full_like(values, np.nan)
    idx = np.flatnonzero(np.isfinite(values))
    if idx.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(t[idx]) > max_gap_s) + 1
    for run in np.split(idx, breaks):
        out[run] = _filter_run(t[run], values[run], cutoff_hz, order)
    return out


def _filter_run(t: np.ndarray, y: np.ndarray, cutoff_hz: float, order: int) -> np.ndarray:
    if y.size < 4:
        return y
    step = float(np.median(np.diff(t)))
    if step <= 0:
        return y
    fs = 1.0 / step
    if cutoff_hz >= fs / 2.2:
        return y
    grid = np.arange(t[0], t[-1] + step / 2, step)
    sos = butter(order, cutoff_hz, btype="low", fs=fs, output="sos")
    # sosfiltfilt's default padding needs more samples than a short run has.
    padlen = min(3 * (2 * len(sos) + 1), grid.size - 1)
    smooth = sosfiltfilt(sos, np.interp(grid, t, y), padlen=padlen)
    return np.interp(t, grid, smooth)
