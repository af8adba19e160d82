"""pyclient.codecache: modules PyScript compiles at every boot come precompiled from the snapshot, and only when their
source is exactly the one that was compiled."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyclient import codecache

SOURCE = 'VALUE = "cached"\n\ndef boom():\n    raise ValueError("from the package")\n'


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """A package ``lpcached`` on sys.path, written as PyScript writes its own (text, utf-8)."""
    root = tmp_path / "lpcached"
    root.mkdir()
    (root / "__init__.py").write_text("", encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield root
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n == "lpcached" or n.startswith("lpcached.")]:
        del sys.modules[name]
    codecache.uninstall()


def test_a_known_source_is_not_compiled_again(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (package / "mod.py").write_text(SOURCE, encoding="utf-8")
    cache = codecache.install({"/home/pyodide/lpcached/__init__.py": "", "/home/pyodide/lpcached/mod.py": SOURCE})
    assert codecache.installed() is cache and len(cache) == 2
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no .pyc from an earlier import may answer instead

    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled although the cache had it")

    monkeypatch.setattr(codecache.SourceFileLoader, "source_to_code", no_compile)
    module = importlib.import_module("lpcached.mod")
    assert module.VALUE == "cached"
    assert (cache.hits, cache.misses) == (2, 0)
    # Tracebacks name the file the module was really loaded from, not the one it was compiled as.
    with pytest.raises(ValueError) as caught:
        module.boom()
    assert traceback.extract_tb(caught.value.__traceback__)[-1].filename == str(package / "mod.py")


def test_a_changed_source_is_compiled_as_usual(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    (package / "mod.py").write_text(SOURCE.replace("cached", "fresh"), encoding="utf-8")
    cache = codecache.install({"/home/pyodide/lpcached/mod.py": SOURCE})
    module = importlib.import_module("lpcached.mod")
    assert module.VALUE == "fresh"
    assert (cache.hits, cache.misses) == (0, 2)  # the package's __init__ and mod: neither was cached


def test_installing_twice_keeps_one_cache_in_front_of_the_path_finder(package: Path) -> None:
    codecache.install({})
    second = codecache.install({"x.py": "X = 1\n"})
    caches = [f for f in sys.meta_path if isinstance(f, codecache.CodeCache)]
    assert caches == [second]
    assert sys.meta_path.index(second) < sys.meta_path.index(importlib.machinery.PathFinder)
    codecache.uninstall()
    assert codecache.installed() is None


def test_a_lazy_package_runs_only_when_first_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PyScript imports its ``pyscript`` package before every page's first script and the page uses none of it: the
    import makes the module, and its code (precompiled) runs at the first attribute access, once."""
    root = tmp_path / "lplazy"
    root.mkdir()
    runs: list[str] = []
    monkeypatch.setitem(sys.modules, "lplazy_runs", runs)  # where the package's code says it ran
    init = "import lplazy_runs\nlplazy_runs.append('init')\nfrom lplazy.part import PART\n"
    part = "import lplazy_runs\nlplazy_runs.append('part')\nPART = 'part'\n"
    (root / "__init__.py").write_text(init, encoding="utf-8")
    (root / "part.py").write_text(part, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    importlib.invalidate_caches()
    cache = codecache.install({"/x/lplazy/__init__.py": init, "/x/lplazy/part.py": part}, lazy=frozenset({"lplazy"}))
    try:
        import lplazy  # noqa: F401 - as PyScript does: `import pyscript as _pyscript; del _pyscript`

        assert runs == [] and (cache.hits, cache.misses) == (0, 0) and cache.unused() == ["lplazy"]
        assert sys.modules["lplazy"].PART == "part"  # the first use runs the package, from the cache
        assert runs == ["init", "part"] and (cache.hits, cache.misses) == (2, 0) and cache.unused() == []
        assert importlib.import_module("lplazy").PART == "part" and runs == ["init", "part"]  # once
    finally:
        for name in [n for n in sys.modules if n == "lplazy" or n.startswith("lplazy.")]:
            del sys.modules[name]
        codecache.uninstall()
