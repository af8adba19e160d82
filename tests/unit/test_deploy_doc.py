"""docs/deploy.md shows the proxy configs the deploy tests run (tests/deploy_support.py): this test holds them equal.

The doc's nginx ``location /term/`` block and its Caddy prefix routes must be, directive for directive, what
``nginx_location`` and ``caddy_site`` generate for serve.py on 127.0.0.1:8765.
"""

from __future__ import annotations

import re
from pathlib import Path

from deploy_support import caddy_site, nginx_location

DEPLOY_MD = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
DOC_PORT = 8765


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DEPLOY_MD.read_text(), flags=re.DOTALL)


def directives(text: str) -> list[str]:
    """Non-empty lines without comments, whitespace collapsed."""
    lines = (re.sub(r"\s+", " ", line.split("#", 1)[0]).strip() for line in text.splitlines())
    return [line for line in lines if line]


def block(text: str, opening: str) -> str:
    """The text from ``opening`` to its matching closing brace, both included."""
    start = text.index(opening)
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0 and text[index] == "}":
            return text[start : index + 1]
    raise AssertionError(f"unbalanced braces after {opening!r}")


def test_the_nginx_location_in_deploy_md_is_the_tested_one() -> None:
    (config,) = fenced("nginx")
    assert directives(block(config, "location /term/ {")) == directives(nginx_location("/term/", DOC_PORT))
    assert "map $http_upgrade $connection_upgrade { default upgrade; '' close; }" in directives(config)


def test_the_caddy_routes_in_deploy_md_are_the_tested_ones() -> None:
    (config,) = fenced("caddy")
    site = block(config, "example.org {")
    inner = site[site.index("{") + 1 : site.rindex("}")]
    assert directives(inner) == directives(caddy_site("/term/", DOC_PORT))
