"""bench/boot_marks.py wraps pyclient's mount path by name: every function it names must exist (a rename would
otherwise break the probe only in the browser), and its main.py must be valid Python (top-level await allowed)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import boot_marks  # noqa: E402


def methods(module: str) -> set[tuple[str, str]]:
    tree = ast.parse((ROOT / "pyclient" / f"{module}.py").read_text())
    return {(cls.name, fn.name) for cls in tree.body if isinstance(cls, ast.ClassDef)
            for fn in cls.body if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_wrapped_function_exists() -> None:
    missing = [w for w in boot_marks.WRAPPED if (w[1], w[2]) not in methods(w[0])]
    assert not missing, missing


def test_the_probes_main_py_compiles() -> None:
    compile(boot_marks.MAIN_PY, "main.py", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
