"""Zero-phase low-pass filtering of irregularly sampled series with gaps.

Pose landmarks jitter by a few pixels from frame to frame; human movement in a
cricket shot or delivery has little content above ~6 Hz, so a 6 Hz Butterworth
low-pass (the usual choice in sports biomechanics) removes the jitter without
flattening the movement. The filter runs forward and backward (as
scipy.signal.sosfiltfilt does, with its odd padding and steady-state start),
so peaks are not shifted in time. It is one second-order section, written
out here: importing scipy.signal costs every job 0.5-0.9 s, filtering a
30 s clip's series this way 0.04 s.

Before filtering, single-frame spikes (a landmark that jumped onto the bat
for one frame) are replaced by their neighbours' median: a low-pass would
otherwise spread them over several frames and let them set an extreme.

Frames can be missing (no pose, joint hidden, frame-rate cap) and timestamps
need not be evenly spaced, while a Butterworth filter needs a uniform grid:
each run of samples without a long gap is interpolated onto a uniform grid at
its median rate, filtered, and read back at the original times. Samples that
were missing stay missing.
"""
from __future__ import annotations

import math

import numpy as np

CUTOFF_HZ = 6.0
PAD = 9  # samples mirrored at each end before filtering (sosfiltfilt's default for one section)
MAX_GAP_S = 0.25  # a longer hole splits the series: interpolating across it would invent movement
SPIKE_WINDOW = 3  # rows each side that judge whether a sample is a spike
SPIKE_K = 4.0  # robust sigmas from their median that make it one
MIN_RUN = 5  # samples: a shorter run cannot be filtered, and unfiltered it would set extremes with its jitter


def despike(values: np.ndarray, half_window: int = SPIKE_WINDOW, k: float = SPIKE_K) -> np.ndarray:
    """Replace isolated outliers by the median of their neighbours (a Hampel filter).

    A sample further than `k` robust sigmas (1.4826 MAD) from the median of the
    samples within `half_window` rows of it is one bad frame, not movement: a
    low-pass would spread it over its neighbours and let it set an extreme.
    Steps and ramps are kept; NaN stays NaN and is ignored.
    """
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    idx = np.flatnonzero(np.isfinite(v))
    width = 2 * half_window + 1
    if idx.size < width:
        return out
    compact = v[idx]
    windows = np.lib.stride_tricks.sliding_window_view(compact, width)
    # the first and last rows are judged by the nearest full window
    at = np.clip(np.arange(idx.size) - half_window, 0, windows.shape[0] - 1)
    middle = np.median(windows, axis=1)[at]
    spread = 1.4826 * np.median(np.abs(windows - np.median(windows, axis=1, keepdims=True)), axis=1)[at]
    spikes = np.abs(compact - middle) > k * spread + 1e-9
    out[idx[spikes]] = middle[spikes]
    return out


def lowpass(
    t: np.ndarray,
    values: np.ndarray,
    cutoff_hz: float = CUTOFF_HZ,
    max_gap_s: float = MAX_GAP_S,
) -> np.ndarray:
    """Low-pass `values` sampled at times `t` (seconds); NaN marks a missing sample.

    A run shorter than MIN_RUN samples is dropped (NaN): it is a few frames
    between gaps, too short to tell movement from jitter. A run sampled too
    slowly for the cutoff to mean anything (below 2.2x the cutoff) is
    returned unfiltered.
    """
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    out = np.full_like(values, np.nan)
    idx = np.flatnonzero(np.isfinite(values))
    if idx.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(t[idx]) > max_gap_s) + 1
    for run in np.split(idx, breaks):
        if run.size >= MIN_RUN:
            out[run] = _filter_run(t[run], despike(values[run]), cutoff_hz)
    return out


def noise_sigma(raw: np.ndarray, smooth: np.ndarray) -> float | None:
    """Robust standard deviation of what the low-pass removed: the jitter of the measurement itself.

    1.4826 x the median absolute residual, so a few real fast movements do not
    count as noise. None with fewer than MIN_RUN residuals.
    """
    residual = np.asarray(raw, dtype=np.float64) - np.asarray(smooth, dtype=np.float64)
    residual = residual[np.isfinite(residual)]
    if residual.size < MIN_RUN:
        return None
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))


def moving_median(t: np.ndarray, values: np.ndarray, half_window_s: float) -> np.ndarray:
    """Median of the finite samples within +-half_window_s of each finite sample (NaN elsewhere)."""
    out = np.full(values.shape, np.nan)
    rows = np.flatnonzero(np.isfinite(values))
    if rows.size == 0:
        return out
    tt, vv = t[rows], values[rows]
    lo = np.searchsorted(tt, tt - half_window_s - 1e-9, side="left")
    hi = np.searchsorted(tt, tt + half_window_s + 1e-9, side="right")
    width = int((hi - lo).max())
    padded = np.concatenate([vv, np.full(width, np.nan)])
    index = lo[:, None] + np.arange(width)[None, :]
    windows = np.where(index < hi[:, None], padded[np.minimum(index, padded.size - 1)], np.nan)
    out[rows] = np.nanmedian(windows, axis=1)
    return out


def _filter_run(t: np.ndarray, y: np.ndarray, cutoff_hz: float) -> np.ndarray:
    if y.size < 4:
        return y
    step = float(np.median(np.diff(t)))
    if step <= 0:
        return y
    fs = 1.0 / step
    if cutoff_hz >= fs / 2.2:
        return y
    grid = np.arange(t[0], t[-1] + step / 2, step)
    return np.interp(t, grid, filtfilt(butterworth(cutoff_hz, fs), np.interp(grid, t, y)))


Biquad = tuple[tuple[float, float, float], tuple[float, float]]  # (b0, b1, b2), (a1, a2); a0 = 1


def butterworth(cutoff_hz: float, fs: float) -> Biquad:
    """Second-order Butterworth low-pass by the bilinear transform with the cutoff prewarped
    (scipy.signal.butter(2, cutoff_hz, fs=fs))."""
    k = math.tan(math.pi * cutoff_hz / fs)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    b0 = k * k * norm
    return (b0, 2.0 * b0, b0), (2.0 * (k * k - 1.0) * norm, (1.0 - math.sqrt(2.0) * k + k * k) * norm)


def filtfilt(section: Biquad, x: np.ndarray) -> np.ndarray:
    """Forward-backward filtering with odd padding and a steady-state start at each end."""
    pad = min(PAD, x.size - 1)
    ext = np.concatenate([2 * x[0] - x[pad:0:-1], x, 2 * x[-1] - x[-2:-(pad + 2):-1]])
    (b0, b1, b2), (a1, a2) = section
    z1 = (b1 - a1 * b0 + b2 - a2 * b0) / (1.0 + a1 + a2)  # the state a constant input of 1 settles in
    z2 = b2 - a2 * b0 - a2 * z1
    forward = _run(section, ext.tolist(), z1, z2)
    backward = _run(section, forward[::-1], z1, z2)[::-1]
    return np.asarray(backward[pad:len(backward) - pad])


def _run(section: Biquad, x: list[float], z1: float, z2: float) -> list[float]:
    """One pass (transposed direct form II), the state scaled to the first sample as if it had always been."""
    (b0, b1, b2), (a1, a2) = section
    z1, z2, out = z1 * x[0], z2 * x[0], []
    for xn in x:
        yn = b0 * xn + z1
        z1 = b1 * xn - a1 * yn + z2
        z2 = b2 * xn - a2 * yn
        out.append(yn)
    return out
