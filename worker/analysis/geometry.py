"""Angle and distance math on landmark arrays. Pure, vectorised over frames.

All functions take points as arrays whose last axis holds coordinates
(x, y) or (x, y, z) and broadcast over any leading axes (frames, sides).
Image coordinates have y pointing down, as in the video frame. A degenerate
input (two coinciding points, or a NaN) gives NaN, never an exception.
"""
from __future__ import annotations

import numpy as np


def distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(q, dtype=np.float64) - np.asarray(p, dtype=np.float64), axis=-1)


def midpoint(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return (np.asarray(p, dtype=np.float64) + np.asarray(q, dtype=np.float64)) / 2.0


def joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle ABC at vertex B in degrees, 0..180 (180: A, B, C in a straight line)."""
    u = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    v = np.asarray(c, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    nu = np.linalg.norm(u, axis=-1)
    nv = np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(u * v, axis=-1) / (nu * nv)
    cos = np.where((nu > 0) & (nv > 0), cos, np.nan)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def line_tilt(back: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Tilt of the segment back->front against the image horizontal, degrees in -90..90.

    Positive when the front end is higher in the picture. The sign does not
    depend on which way the player faces (left or right in the frame), so a
    left-hander filmed from the same side gets comparable numbers.
    """
    d = np.asarray(front, dtype=np.float64) - np.asarray(back, dtype=np.float64)
    dx, dy = np.abs(d[..., 0]), d[..., 1]
    tilt = np.degrees(np.arctan2(-dy, dx))
    return np.where((dx == 0) & (dy == 0), np.nan, tilt)
