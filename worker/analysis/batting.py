"""The phases of a shot: set position, trigger, front-foot landing, top of the backlift, impact, follow-through."""
from __future__ import annotations

import numpy as np

from worker.analysis.series import Handedness
from worker.analysis.motion import (CONTACT_METHOD, FOOT, HAND, REST_METHOD, Event, Tracks, at_rest, contact_event,
                                    crossing, extreme_row, last_plant_before, flat_vertex, missing, plants, runs,
                                    speed_peak)

V_STILL = 0.3  # body heights/s: hands and feet slower than this are still
STILL_MIN_S = 0.1
V_MOVE = 0.6  # body heights/s: the hands or a foot moving this fast have started the trigger
V_SWING = 1.5  # body heights/s: slower hands at their peak did not play a shot
MAX_LANDING_TO_IMPACT_S = 0.6
TOP_FIT_S = 0.1  # the top of the backlift is placed by a parabola through the hands' height over +-0.1 s

IMPACT_METHOD = ("peak speed of the hands (mean of the wrists) while they are below the shoulders, ahead of "
                 "the hip centre and moving towards the bowler")
SET_METHOD = (f"last frame of the last still spell (hands and feet slower than {V_STILL} body heights/s for "
              f">= {STILL_MIN_S} s) before front-foot landing")
TRIGGER_METHOD = f"first frame after the set position at which the hands or a foot move faster than {V_MOVE} " \
                 "body heights/s"
TOP_METHOD = ("highest point of the hands in the 0.6 s before impact (least-squares parabola through their "
              f"height over +-{TOP_FIT_S} s)")


def _impact(tracks: Tracks, hands: np.ndarray, speed: np.ndarray, shoulders: np.ndarray, hips: np.ndarray,
            facing_sign: int) -> tuple[int | None, str | None]:
    """Row of the hands' peak speed in front of the body, moving towards the bowler; or why there is none."""
    with np.errstate(invalid="ignore"):
        forward = facing_sign * tracks.velocity("left_wrist", "right_wrist")[:, 0] > 0
        in_front = (hands[:, 1] > shoulders[:, 1]) & (facing_sign * (hands[:, 0] - hips[:, 0]) > 0) & forward
    row, problem = extreme_row(np.where(in_front, -speed, np.nan), 0, tracks.n - 1, np.isfinite(speed))
    if problem == "edge":
        return None, "the hands were still speeding up when the clip (or the usable frames) ended: impact is " \
                     "not in the clip"
    if problem == "gap":
        return None, "the hands were not seen around their fastest moment (a gap in the usable frames)"
    if row is None:
        return None, "the hands were not seen in front of the body moving towards the bowler"
    if speed[row] < V_SWING:
        return None, f"the hands never moved faster than {V_SWING} body heights/s in front of the body: no shot"
    return row, None


def batting_events(tracks: Tracks, hand: Handedness, facing_sign: int) -> dict[str, Event]:
    """Set position, trigger, front-foot landing, top of the backlift, impact, end of follow-through."""
    front, back = hand.front, hand.back
    wrists = ("left_wrist", "right_wrist")
    hands = tracks.point(*wrists)
    speed = tracks.speed(*wrists)
    shoulders = tracks.point("left_shoulder", "right_shoulder")
    hips = tracks.point("left_hip", "right_hip")
    events: dict[str, Event] = {}

    impact_row, why = _impact(tracks, hands, speed, shoulders, hips, facing_sign)
    impact_s = None if impact_row is None else float(tracks.t[impact_row])

    front_plants = plants(tracks, front)
    landing = last_plant_before(front_plants, impact_s, MAX_LANDING_TO_IMPACT_S) if impact_s is not None \
        else (front_plants[-1] if front_plants else None)
    events_landing = contact_event(tracks, landing, front, CONTACT_METHOD) if landing is not None else \
        missing(CONTACT_METHOD, f"the {front} (front) foot did not step and land"
                + ("" if impact_s is None else f" in the {MAX_LANDING_TO_IMPACT_S} s before impact"))

    reference = landing.onset if landing is not None else impact_row
    set_row = trigger_row = None
    motion = np.full(tracks.n, np.nan)
    set_why = "neither front-foot landing nor impact was found"
    if reference is not None:
        motion = np.nanmax(np.stack([tracks.speed(*HAND), tracks.speed(*(f"{front}_{p}" for p in FOOT)),
                                     tracks.speed(*(f"{back}_{p}" for p in FOOT))]), axis=0)
        with np.errstate(invalid="ignore"):
            still = (motion < V_STILL)[:reference]
        spells = [(a, b) for a, b in runs(still) if (b - a + 1) * tracks.step >= STILL_MIN_S - 1e-9]
        if not spells:
            set_why = "the batter was never still before the front foot landed: the stance is not in the clip"
        else:
            set_row = int(spells[-1][1])
            moving = np.flatnonzero(motion[set_row + 1:reference + 1] >= V_MOVE)
            trigger_row = set_row + 1 + int(moving[0]) if moving.size else None
    body = HAND + tuple(f"{s}_{p}" for s in ("left", "right") for p in FOOT)
    events["set_position"] = tracks.event(set_row, body, SET_METHOD,
                                          time_s=crossing(tracks, motion, set_row, V_STILL)) \
        if set_row is not None else \
        missing(SET_METHOD, set_why)
    events["trigger"] = tracks.event(trigger_row, body, TRIGGER_METHOD,
                                     time_s=crossing(tracks, motion, trigger_row - 1, V_MOVE)) \
        if trigger_row is not None else \
        missing(TRIGGER_METHOD, set_why if set_row is None else "no movement followed the set position")
    events["front_foot_landing"] = events_landing

    top_row = None
    if impact_row is not None:
        lo = max(0, impact_row - int(round(0.6 / tracks.step)))
        top_row, _ = extreme_row(hands[:, 1], lo, impact_row - 1, np.isfinite(hands[:, 1]))
    events["top_of_backlift"] = tracks.event(
        top_row, wrists, TOP_METHOD, time_s=flat_vertex(tracks, tracks.raw(wrists)[:, 1], top_row, TOP_FIT_S)) \
        if top_row is not None else \
        missing(TOP_METHOD, "impact was not found" if impact_row is None else "the hands' highest point "
                "before impact was not seen")
    events["impact"] = tracks.event(impact_row, wrists, IMPACT_METHOD,
                                    time_s=speed_peak(tracks, hands, impact_row, tracks.seen(wrists))) \
        if impact_row is not None else \
        missing(IMPACT_METHOD, why)
    events["end_of_follow_through"] = at_rest(tracks, wrists, impact_s, REST_METHOD) \
        if impact_s is not None else missing(REST_METHOD, "impact was not found")
    return events
