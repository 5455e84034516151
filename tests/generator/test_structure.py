"""The generator's shape: small modules, no import cycle (counting imports inside functions too)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "generator"


def imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "generator":
                    found |= {alias.name for alias in node.names}
                elif node.module.startswith("generator."):
                    found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("generator.")}
        graph[path.stem] = found - {path.stem}
    return graph


def test_no_import_cycle():
    graph = imports()
    assert graph["errors"] == set()
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for other in graph.get(module, ()):
            assert state.get(other) != "open", " -> ".join(trail + [module, other])
            if other not in state:
                visit(other, trail + [module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])


def test_no_module_over_400_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 400, sizes
