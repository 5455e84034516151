"""Per-job options: the validator, its JSON Schema, and the command-line helper agree."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from worker.options import (
    SCHEMA_PATH, InvalidOptions, JobOptions, Subject, options_from_flags, parse_options, subject_from_flag,
)

SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = Draft202012Validator(SCHEMA)

VALID = [
    {},
    {"activity": "bowling", "handedness": "left", "view": "side-on"},
    {"activity": "batting", "view": "front-on", "max_fps": 30},
    {"view": "behind", "activity": None, "subject": None, "max_fps": None},
    {"subject": {"x": 0.4, "y": 0.6}},
    {"subject": {"x": 0.4, "y": 0.6, "t": 1.5}},
    {"subject": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.7, "t": 0}},
    {"subject": {"x": 0, "y": 1}, "max_fps": 60.0},
]

# (document, option named in the error, a word of what is allowed)
INVALID = [
    ({"activity": "fielding"}, "activity", "batting"),
    ({"activity": "Bowling"}, "activity", "bowling"),
    ({"handedness": "ambidextrous"}, "handedness", "left"),
    ({"view": "top"}, "view", "side-on"),
    ({"view": 3}, "view", "behind"),
    ({"handednes": "left"}, "handednes", "handedness"),
    ({"subject": [0.4, 0.6]}, "subject", "{x, y}"),
    ({"subject": {"x": 0.4}}, "subject", "{x, y}"),
    ({"subject": {"x": 0.4, "y": 0.6, "w": 0.2}}, "subject", "{x, y, w, h}"),
    ({"subject": {"x": 1.4, "y": 0.6}}, "subject", "between 0 and 1"),
    ({"subject": {"x": "0.4", "y": 0.6}}, "subject", "number"),
    ({"subject": {"x": True, "y": 0.6}}, "subject", "number"),
    ({"subject": {"x": 0.1, "y": 0.1, "w": 0, "h": 0.5}}, "subject", "greater than 0"),
    ({"subject": {"x": 0.4, "y": 0.6, "t": -1}}, "subject", "0 or more"),
    ({"max_fps": 120}, "max_fps", "ceiling"),
    ({"max_fps": 5}, "max_fps", "10 to 60"),
    ({"max_fps": "30"}, "max_fps", "number"),
    ({"max_fps": float("nan")}, "max_fps", "finite"),
]


def test_no_document_reads_as_all_auto_at_the_ceiling() -> None:
    options = parse_options(None, max_fps_ceiling=48)
    assert options == JobOptions("auto", "auto", "auto", None, 48.0)
    assert parse_options({}, max_fps_ceiling=48) == options


def test_a_full_document_is_read_and_echoed() -> None:
    doc = {"activity": "bowling", "handedness": "left", "view": "side-on",
           "subject": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5, "t": 2}, "max_fps": 50}
    options = parse_options(doc, max_fps_ceiling=60)
    assert options.subject == Subject(0.1, 0.2, 0.3, 0.5, 2.0)
    assert options.subject.is_box and options.subject.centre == pytest.approx((0.25, 0.45))
    assert options.to_document() == {**doc, "max_fps": 50.0, "subject": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.5,
                                                                          "t": 2.0}}
    assert parse_options(options.to_document(), max_fps_ceiling=60) == options


@pytest.mark.parametrize("doc", VALID)
def test_valid_documents_pass_both_the_validator_and_the_schema(doc: dict) -> None:
    options = parse_options(doc, max_fps_ceiling=60)
    assert not list(VALIDATOR.iter_errors(doc))
    echoed = options.to_document()
    assert not list(VALIDATOR.iter_errors(echoed))
    assert parse_options(echoed, max_fps_ceiling=60) == options


@pytest.mark.parametrize(("doc", "option", "allowed"), INVALID)
def test_invalid_documents_name_the_option_and_what_is_allowed(doc: dict, option: str, allowed: str) -> None:
    with pytest.raises(InvalidOptions) as caught:
        parse_options(doc, max_fps_ceiling=60)
    assert caught.value.option == option
    message = str(caught.value)
    assert repr(option) in message and allowed in message
    assert caught.value.path.startswith("$")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("doc", "option", "allowed"), INVALID)
def test_the_schema_refuses_what_the_validator_refuses(doc: dict, option: str, allowed: str) -> None:
    if option == "max_fps" and doc["max_fps"] == 120:
        return  # the ceiling is an environment setting the static schema cannot know
    if doc.get("max_fps") != doc.get("max_fps"):
        return  # NaN is not JSON
    assert list(VALIDATOR.iter_errors(doc)), doc


def test_a_box_reaching_outside_the_frame_is_refused() -> None:
    with pytest.raises(InvalidOptions, match="outside the frame"):
        parse_options({"subject": {"x": 0.8, "y": 0.1, "w": 0.3, "h": 0.5}})


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidOptions, match="an object"):
        parse_options(["bowling"])  # type: ignore[arg-type]


def test_the_schema_is_draft_2020_12_and_closed() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["additionalProperties"] is False
    assert list(VALIDATOR.iter_errors({"colour": "red"}))


@pytest.mark.parametrize(("flag", "doc"), [
    ("0.4,0.6", {"x": 0.4, "y": 0.6}),
    ("0.4, 0.6, 1.5", {"x": 0.4, "y": 0.6, "t": 1.5}),
    ("0.1,0.2,0.3,0.4", {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}),
    ("0.1,0.2,0.3,0.4,2", {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4, "t": 2.0}),
])
def test_subject_flags_become_documents(flag: str, doc: dict) -> None:
    assert subject_from_flag(flag) == doc
    assert parse_options({"subject": subject_from_flag(flag)}).subject.to_document() == doc


@pytest.mark.parametrize("flag", ["0.4", "0.4,0.6,1,2,3,4", "left,0.6", ""])
def test_bad_subject_flags_are_refused_naming_the_flag(flag: str) -> None:
    with pytest.raises(InvalidOptions) as caught:
        subject_from_flag(flag)
    assert caught.value.option == "subject" and caught.value.path == "--subject"


def test_flags_left_out_stay_out_and_the_rest_are_validated() -> None:
    assert options_from_flags() == {}
    doc = options_from_flags(activity="batting", view="side-on", subject="0.5,0.5", max_fps="30")
    assert doc == {"activity": "batting", "view": "side-on", "subject": {"x": 0.5, "y": 0.5}, "max_fps": 30.0}
    assert parse_options(doc).max_fps == 30.0
    with pytest.raises(InvalidOptions, match="max_fps"):
        options_from_flags(max_fps="fast")


def test_the_module_does_not_load_numpy_opencv_or_boto3() -> None:
    code = "import sys, worker.options; print(sorted({'numpy', 'cv2', 'boto3'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
