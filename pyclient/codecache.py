"""Compiled code for the Python sources the page must compile at every boot, kept in the memory snapshot.

PyScript writes its own ``pyscript`` package (~15 KB of source) into the file system and imports it on every page
load, before main.py runs. That package binds to the page's DOM at import, so the snapshot cannot hold it imported,
and compiling it costs ~60-90 ms of each boot. ``make snapshot`` compiles those sources ahead of time
(web/make_snapshot.mjs) and installs a ``CodeCache`` on ``sys.meta_path``, where the snapshot keeps it.

A cached code object is used only for a source whose bytes hash to the same SHA-256 as the source it was compiled
from; anything else is compiled as usual. A different PyScript is slower to boot, never wrong. No ``js`` here: this
runs under CPython in the tests and under Node when the snapshot is made.

Precompiled, the import still ran every module of the package (~40-130 ms of each boot, between PyScript's
``py:ready`` and main.py, measured in the page), and livepane uses none of it: PyScript imports ``pyscript`` only to
have it ready (``import pyscript as _pyscript; del _pyscript``). So the packages in :data:`LAZY_PACKAGES` are imported
lazily (``importlib.util.LazyLoader``): the import makes the module object, and its code runs at the first attribute
access, e.g. a page script's ``from pyscript import display``, which then gets the whole package as before.
"""

from __future__ import annotations

import _imp
import hashlib
import marshal
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from importlib.util import LazyLoader
from types import CodeType
from typing import Any

__all__ = ["LAZY_PACKAGES", "CodeCache", "install", "installed", "uninstall"]

# Top-level packages whose import only makes the module; its code runs when something first uses it (module docstring).
# PyScript's own: the page never touches it, and PyScript imports it before every page's first script.
LAZY_PACKAGES = frozenset({"pyscript"})


def _key(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


class CodeCache:
    """A meta path finder that finds modules as ``PathFinder`` does, with loaders that skip compiling known sources."""

    def __init__(self, sources: Mapping[str, str], lazy: frozenset[str] = LAZY_PACKAGES) -> None:
        """``sources``: file name (for tracebacks) -> Python source, as it will be written to the file system;
        ``lazy``: top-level modules imported lazily."""
        self._lazy = lazy
        self._code: dict[str, bytes] = {}
        for filename, source in sources.items():
            data = source.encode("utf-8")
            code = compile(data, filename, "exec", dont_inherit=True)
            self._code[_key(data)] = marshal.dumps(code)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._code)

    def unused(self) -> list[str]:
        """The lazy packages imported and not used yet (their code has not run)."""
        return sorted(name for name in self._lazy if type(sys.modules.get(name)).__name__ == "_LazyModule")

    def code_for(self, data: bytes, path: str) -> CodeType | None:
        blob = self._code.get(_key(data))
        if blob is None:
            self.misses += 1
            return None
        self.hits += 1
        code = marshal.loads(blob)
        _imp._fix_co_filename(code, path)  # what importlib does for a .pyc found elsewhere than its source
        return code

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: Any = None) -> ModuleSpec | None:
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is SourceFileLoader:
            loader = _CachedSourceLoader(self, fullname, spec.loader.path)
            spec.loader = LazyLoader(loader) if fullname in self._lazy else loader
        return spec

    def invalidate_caches(self) -> None:
        PathFinder.invalidate_caches()


class _CachedSourceLoader(SourceFileLoader):
    def __init__(self, cache: CodeCache, fullname: str, path: str) -> None:
        super().__init__(fullname, path)
        self._cache = cache

    def source_to_code(self, data: Any, path: Any, *, _optimize: int = -1) -> CodeType:  # type: ignore[override]
        if isinstance(data, bytes) and isinstance(path, str):
            code = self._cache.code_for(data, path)
            if code is not None:
                return code
        return super().source_to_code(data, path, _optimize=_optimize)


def install(sources: Mapping[str, str], lazy: frozenset[str] = LAZY_PACKAGES) -> CodeCache:
    """Compile ``sources`` and put the cache in front of ``PathFinder`` on ``sys.meta_path``."""
    cache = CodeCache(sources, lazy)
    uninstall()
    index = next((i for i, finder in enumerate(sys.meta_path) if finder is PathFinder), len(sys.meta_path))
    sys.meta_path.insert(index, cache)
    return cache


def uninstall() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, CodeCache)]


def installed() -> CodeCache | None:
    return next((finder for finder in sys.meta_path if isinstance(finder, CodeCache)), None)
