"""A few lines a coach can read at a glance, from a result document."""
from __future__ import annotations

from collections.abc import Callable


def _fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:g}{unit}"


def _line(label: str, metric: dict, describe: Callable[[object], str]) -> str:
    if metric["value"] is None:
        return f"{label}: not measured ({metric['reason']})"
    return f"{label}: {describe(metric['value'])} (confidence {metric['confidence']:.2f})"


def _tracking_line(result: dict) -> str:
    tracking, gates = result["tracking"], result["quality"]["removed_by_gate"]
    removed = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in gates.items() if n) or "none"
    return (f"subject: {tracking['subject']['reason']}; {tracking['people_seen']} people seen, "
            f"followed in {tracking['coverage']:.0%} of frames, {tracking['reacquisitions']} re-acquisitions, "
            f"{tracking['rejected_by_identity_gate']} poses of someone else turned away; frames removed by "
            f"gates: {removed}")


def summarize(result: dict, video_name: str) -> str:
    video, pose, m = result["video"], result["pose"], result["metrics"]
    hand = pose["handedness"]
    lines = [
        f"{video_name}: {video['duration_s']:g} s, {video['width']}x{video['height']}, "
        f"{video['frames_analyzed']} of {video['frames_total']} frames analysed, "
        f"person found in {pose['detection_rate']:.0%} of them",
        _tracking_line(result),
        f"stance: {hand['value']}-handed ({hand['source']}; front side {hand['front_side']})",
        _line("front-knee flexion", m["front_knee_flexion"],
              lambda v: f"deepest {_fmt(v['max'], ' deg')}, at max stride {_fmt(v['at_max_stride'], ' deg')}"),
        _line("head movement", m["head_stability"], lambda v: f"{v['rms_displacement']:g} torso lengths rms"),
        _line("stride", m["stride_length"],
              lambda v: f"{v:g} body heights (stance {_fmt(m['stance_width']['value'])})"),
        _line("shoulder line", m["shoulder_line_angle"], lambda v: f"mean tilt {_fmt(v['mean'], ' deg')}"),
        _line("hip line", m["hip_line_angle"], lambda v: f"mean tilt {_fmt(v['mean'], ' deg')}"),
    ]
    for side in ("left", "right"):
        metric = m[f"{side}_elbow_extension"]
        if metric["value"] is not None:
            lines.append(_line(f"{side} elbow extension (indicator only)", metric, lambda v: f"{v:g} deg"))
    return "\n".join(lines)
