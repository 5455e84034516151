"""generator/yamlio.py on its own: bounds on the event stream, scalars, provenance through merge keys."""
import pytest

from generator import yamlio
from generator.errors import Source, ValuesError


def bounds_message(text: str) -> str:
    with pytest.raises(ValuesError) as err:
        yamlio.check_bounds(text, "f.yaml")
    (problem,) = err.value.problems
    return str(problem)


def test_depth_at_the_bound_passes_and_one_more_is_refused():
    yamlio.check_bounds("[" * yamlio.MAX_DEPTH + "]" * yamlio.MAX_DEPTH, "f.yaml")
    deeper = yamlio.MAX_DEPTH + 1
    assert bounds_message("[" * deeper + "]" * deeper) == f"f.yaml:1: nested deeper than {yamlio.MAX_DEPTH} levels"


def test_alias_expansion_is_counted_without_expanding():
    yamlio.check_bounds("a: &a [" + ", ".join(["x"] * 99) + "]\nb: [" + ", ".join(["*a"] * 98) + "]\n", "f.yaml")
    text = "a: &a [" + ", ".join(["x"] * 100) + "]\nb: [" + ", ".join(["*a"] * 100) + "]\n"
    assert bounds_message(text).startswith(f"f.yaml:2: expands to more than {yamlio.MAX_NODES} values")


def test_invalid_yaml_is_a_problem_with_its_line():
    assert bounds_message("a: [1\nb: 2\n").startswith("f.yaml:")


def test_scalars_keep_their_meaning():
    doc = yamlio.load("t: &t true\nu: *t\nn: 5\nf: 1.5\ns: 'x'\nz: null\n", "f.yaml")
    problems: list = []
    plain = {k: yamlio.scalar(v, (k,), Source("f.yaml"), problems) for k, v in doc.items()}
    assert plain == {"t": True, "u": True, "n": 5, "f": 1.5, "s": "x", "z": None}
    assert [type(v) for v in plain.values()] == [bool, bool, int, float, str, type(None)]
    assert problems == []


def test_merged_keys_report_the_line_they_were_written_on():
    doc = yamlio.load("base: &b\n  cpu: 1\n  memory: 2\nw:\n  <<: *b\n  memory: 3\n", "f.yaml")
    origins: dict = {}
    problems: list = []
    data = yamlio.plain(doc, (), "f.yaml", None, origins.__setitem__, problems)
    assert data["w"] == {"cpu": 1, "memory": 3}
    assert str(origins[("w", "cpu")]) == "f.yaml:2" and str(origins[("w", "memory")]) == "f.yaml:6"
