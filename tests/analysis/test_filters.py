"""The 6 Hz zero-phase low-pass: keeps movement, removes jitter, respects gaps."""
from __future__ import annotations

import numpy as np
import pytest

from worker.analysis.filters import butterworth, filtfilt, lowpass


def amplitude(y: np.ndarray) -> float:
    core = y[len(y) // 4: -len(y) // 4]  # away from the ends, where any filter is least certain
    return float(np.nanmax(core) - np.nanmin(core)) / 2


def test_slow_movement_passes_and_jitter_is_removed():
    t = np.arange(0, 4, 1 / 25)
    slow = 20 * np.sin(2 * np.pi * 1.0 * t)
    fast = 5 * np.sin(2 * np.pi * 10.0 * t)
    assert amplitude(lowpass(t, slow)) == pytest.approx(20, rel=0.03)
    assert amplitude(lowpass(t, fast)) < 0.2 * 5
    np.testing.assert_allclose(lowpass(t, slow + fast)[25:-25], slow[25:-25], atol=1.5)


def test_peaks_keep_their_time():
    t = np.arange(0, 3, 1 / 30)
    bump = 40 * np.exp(-((t - 1.3) ** 2) / (2 * 0.12**2))
    smooth = lowpass(t, bump)
    assert t[np.argmax(smooth)] == pytest.approx(1.3, abs=1 / 30)


def test_missing_samples_stay_missing_and_long_gaps_are_not_bridged():
    t = np.arange(0, 3, 1 / 25)
    y = np.where(t < 1.5, 10.0, 50.0)
    y[10] = np.nan
    y[(t > 1.4) & (t < 1.8)] = np.nan  # a 0.4 s hole, longer than MAX_GAP_S
    out = lowpass(t, y)
    assert np.isnan(out[10])
    assert np.array_equal(np.isnan(out), np.isnan(y))
    # each side of the hole is filtered on its own: no ramp from 10 to 50 leaks across it
    np.testing.assert_allclose(out[(t > 0.2) & (t < 1.3) & np.isfinite(out)], 10.0, atol=1e-6)
    np.testing.assert_allclose(out[(t > 1.9) & np.isfinite(out)][:-3], 50.0, atol=1e-6)


def test_uneven_timestamps_from_a_frame_rate_cap_are_handled():
    # 30 fps capped to 25 fps: the kept frames are spaced 33 or 67 ms apart
    t = np.arange(0, 4, 1 / 30)
    t = t[np.unique((t * 25 + 1e-9).astype(int), return_index=True)[1]]
    y = 20 * np.sin(2 * np.pi * 1.0 * t)
    np.testing.assert_allclose(lowpass(t, y)[10:-10], y[10:-10], atol=1.0)


def test_runs_too_short_to_filter_are_dropped_and_too_coarse_ones_come_back_unchanged():
    t3 = np.array([0.0, 0.04, 0.08])
    y3 = np.array([1.0, 9.0, 2.0])
    assert np.isnan(lowpass(t3, y3)).all()  # 3 samples between gaps: jitter cannot be told from movement
    t5 = np.arange(5) * 0.04
    assert np.isfinite(lowpass(t5, np.arange(5.0))).all()
    t10 = np.arange(0, 2, 1 / 10)  # 10 Hz sampling cannot carry a 6 Hz cutoff
    y10 = np.random.default_rng(1).normal(size=t10.size)
    np.testing.assert_array_equal(lowpass(t10, y10), y10)
    assert np.isnan(lowpass(t3, np.full(3, np.nan))).all()


@pytest.mark.parametrize("fs", [14.0, 25.0, 30.0, 60.0, 120.0])
@pytest.mark.parametrize("n", [4, 5, 10, 11, 300])
def test_the_filter_is_scipys_butterworth_filtfilt(fs, n):
    from scipy.signal import butter, sosfiltfilt

    x = np.cumsum(np.random.default_rng(n).normal(size=n)) + 5.0
    expected = sosfiltfilt(butter(2, 6.0, fs=fs, output="sos"), x, padlen=min(9, n - 1))
    np.testing.assert_allclose(filtfilt(butterworth(6.0, fs), x), expected, rtol=0, atol=1e-9)
