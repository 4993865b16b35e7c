"""The architecture of docs/architecture.md, checked: imports point down the layers, never up.

Every ``asyndbt`` import in every module counts, including the lazy ones inside functions, so a
layer cannot reach up by hiding an import in a function body.
"""

from __future__ import annotations

import ast
from pathlib import Path

import asyndbt

ROOT = Path(asyndbt.__file__).parent

# Lower number = lower layer. A module may import its own package and any package of a lower layer.
LAYERS = {
    "errors": 0,
    "llm": 1, "optim": 1, "tasks": 1, "reports": 1,
    "prompt": 2, "algorithm": 2,
    "config": 3, "evaluation": 3,
    "session": 4,
    "runtime": 5,
    "job": 6,  # the driver: runs a prepared job with the simulator
    "commands": 7,
    "cli": 8,
    "__main__": 9, "__init__": 9,
}


def _imports(path: Path) -> set[str]:
    """The asyndbt packages/modules ``path`` imports (second dotted component)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "asyndbt" else [f"asyndbt.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        out |= {n.split(".")[1] for n in names if n.startswith("asyndbt.")}
    return out


def test_every_package_has_a_layer():
    tops = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in ROOT.rglob("*.py")}
    assert tops <= set(LAYERS), f"give these a layer in tests/test_layers.py: {sorted(tops - set(LAYERS))}"


def test_imports_point_down():
    upward = []
    for path in ROOT.rglob("*.py"):
        top = path.relative_to(ROOT).parts[0].removesuffix(".py")
        for target in _imports(path) - {top}:
            if LAYERS[target] >= LAYERS[top]:
                upward.append(f"{path.relative_to(ROOT)} imports asyndbt.{target}")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def test_runtimes_do_not_reach_for_the_driver():
    # the Flower runtime builds its job through the session, like the simulator's driver
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "runtime").rglob("*.py")
                 if "job" in _imports(p) or "SimpleNamespace" in p.read_text(encoding="utf-8")]
    assert not offenders, offenders
