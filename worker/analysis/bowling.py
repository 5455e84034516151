"""The phases of a delivery: back- and front-foot contact, upper arm horizontal, release, follow-through."""
from __future__ import annotations

import numpy as np

from worker.analysis.series import Handedness
from worker.analysis.motion import (CONTACT_METHOD, MIN_PLANT_S, REST_METHOD, Event, Tracks, at_rest, contact_event,
                                    extreme_row, last_plant_before, missing, plants, vertex)

MAX_FFC_TO_RELEASE_S = 0.4
MAX_BFC_TO_FFC_S = 0.6

RELEASE_METHOD = ("bowling wrist's highest point (smallest smoothed image y) within "
                  f"{MAX_FFC_TO_RELEASE_S} s after front-foot contact")
HORIZONTAL_METHOD = "last frame before release at which the rising upper arm (shoulder to elbow) is horizontal"


def bowling_events(tracks: Tracks, arm: Handedness) -> dict[str, Event]:
    """Back-foot contact, front-foot contact, upper arm horizontal, release, end of follow-through."""
    bowl, front, back = arm.value, arm.front, arm.back
    wrist_y = tracks.point(f"{bowl}_wrist")[:, 1]
    shoulder_y = tracks.point(f"{bowl}_shoulder")[:, 1]
    front_plants, back_plants = plants(tracks, front), plants(tracks, back)
    events: dict[str, Event] = {}

    above = np.where(wrist_y < shoulder_y, wrist_y, np.nan)
    seen = np.isfinite(wrist_y)
    ffc, release_row, why = None, None, None
    for plant in reversed(front_plants):
        lo = tracks.row_at(plant.contact_s)
        hi = tracks.row_at(plant.contact_s + MAX_FFC_TO_RELEASE_S)
        row, problem = extreme_row(above, lo, hi, seen)
        if problem == "not seen":
            continue  # the arm was not up after this landing: a run-up stride
        ffc, release_row = plant, row
        if problem == "edge":
            why = f"the {bowl} wrist was still rising when the clip (or the usable frames) ended: release is " \
                  "not in the clip"
        elif problem == "gap":
            why = f"the {bowl} wrist was not seen around its highest point (a gap in the usable frames)"
        break
    if ffc is None:
        ffc = front_plants[-1] if front_plants else None
        why = f"the {bowl} wrist did not rise above the shoulder within {MAX_FFC_TO_RELEASE_S} s of front-foot contact"
        if ffc is None:
            why = "front-foot contact was not found, and release is looked for only after it"
            _, problem = extreme_row(above, 0, tracks.n - 1, seen)
            if problem == "edge":
                why += f"; the {bowl} wrist was still rising when the clip ended: release is not in the clip"
    release_s = None if release_row is None else float(tracks.t[release_row])
    events["front_foot_contact"] = contact_event(tracks, ffc, front, CONTACT_METHOD) if ffc is not None else \
        missing(CONTACT_METHOD, f"no landing of the {front} (front) foot was found (a foot must be seen still for "
                                f"{MIN_PLANT_S} s, so a landing in the clip's last frames cannot be confirmed)")
    events["release"] = tracks.event(release_row, (f"{bowl}_wrist",), RELEASE_METHOD,
                                     time_s=vertex(tracks, wrist_y, release_row)) \
        if release_row is not None else missing(RELEASE_METHOD, why or "not found")

    bfc = None if ffc is None else last_plant_before([p for p in back_plants if p.contact_s < ffc.contact_s - tracks.step],
                                           ffc.contact_s, MAX_BFC_TO_FFC_S)
    events["back_foot_contact"] = contact_event(tracks, bfc, back, CONTACT_METHOD) if bfc is not None else \
        missing(CONTACT_METHOD, f"no landing of the {back} (back) foot was found in the {MAX_BFC_TO_FFC_S} s "
                                "before front-foot contact" if ffc is not None else
                "front-foot contact was not found, so the delivery stride cannot be placed")

    events["upper_arm_horizontal"] = _upper_arm_horizontal(tracks, bowl, release_row)
    events["end_of_follow_through"] = at_rest(tracks, (f"{bowl}_wrist",), release_s, REST_METHOD) \
        if release_s is not None else missing(REST_METHOD, "release was not found")
    order = ("back_foot_contact", "front_foot_contact", "upper_arm_horizontal", "release", "end_of_follow_through")
    return {k: events[k] for k in order}


def _upper_arm_horizontal(tracks: Tracks, bowl: str, release_row: int | None) -> Event:
    if release_row is None:
        return missing(HORIZONTAL_METHOD, "release was not found")
    rise = tracks.point(f"{bowl}_elbow")[:, 1] - tracks.point(f"{bowl}_shoulder")[:, 1]
    rows = np.arange(max(0, release_row - int(round(MAX_FFC_TO_RELEASE_S / tracks.step))), release_row)
    crossing = [r for r in rows if rise[r] > 0 >= rise[r + 1]]
    if not crossing:
        return missing(HORIZONTAL_METHOD, "the upper arm was not seen rising through horizontal before release")
    r = crossing[-1]
    frac = rise[r] / (rise[r] - rise[r + 1])
    time_s = float(tracks.t[r] + frac * (tracks.t[r + 1] - tracks.t[r]))
    return tracks.event(r if frac < 0.5 else r + 1, (f"{bowl}_shoulder", f"{bowl}_elbow"), HORIZONTAL_METHOD,
                        time_s=time_s)
