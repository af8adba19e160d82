"""The pure parts of the Origin check and --public-url (livepane_server.auth, .config): exact cases, no server.

The same rules run end to end in tests/server/test_deploy.py (real serve.py, nginx, Caddy).
"""

from __future__ import annotations

import pytest

from livepane_server.auth import MAX_CLOSE_REASON_BYTES, Origin, Refusal, parse_host, parse_origin
from livepane_server.config import PublicURL, parse_public_url


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("http://127.0.0.1:8765", Origin("http", "127.0.0.1", 8765)),
        ("https://example.org", Origin("https", "example.org", 443)),
        ("http://example.org", Origin("http", "example.org", 80)),
        ("https://example.org:443", Origin("https", "example.org", 443)),
        ("http://[::1]:8765", Origin("http", "[::1]", 8765)),
        ("https://Example.ORG", Origin("https", "example.org", 443)),  # host names are case-insensitive
    ],
)
def test_origins_browsers_send_are_parsed(text: str, origin: Origin) -> None:
    assert parse_origin(text) == origin


@pytest.mark.parametrize(
    "text",
    [
        "http://evil.example@127.0.0.1:8765",  # userinfo: a URL parser would say host 127.0.0.1
        "http://u:p@127.0.0.1:8765",
        "http://127.0.0.1:8765/",
        "http://127.0.0.1:8765/path",
        "http://127.0.0.1:8765?q",
        "http://127.0.0.1:8765#f",
        "HTTP://127.0.0.1:8765",  # browsers serialize the scheme in lower case
        "Https://example.org",
        "ws://127.0.0.1:8765",
        "file://127.0.0.1",
        "null",
        "",
        "http://",
        "http://:8765",
        "http://127.0.0.1:08765",  # leading zero
        "http://127.0.0.1:65536",
        "http://127.0.0.1:8765:8765",
        "http://127.0.0.1:8765 ",
        " http://127.0.0.1:8765",
        "http://exa mple.org",
        "http://127.0.0.1\\@evil.example",
    ],
)
def test_anything_else_is_not_an_origin(text: str) -> None:
    assert parse_origin(text) is None


def test_origins_print_without_their_default_port() -> None:
    assert str(Origin("https", "example.org", 443)) == "https://example.org"
    assert str(Origin("https", "example.org", 8443)) == "https://example.org:8443"


def test_host_headers() -> None:
    assert parse_host("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_host("Example.org") == ("example.org", None)
    assert parse_host("[::1]:80") == ("[::1]", 80)
    assert parse_host("evil@127.0.0.1") is None
    assert parse_host("h:99999") is None


def test_a_refusal_names_both_fixes_and_fits_a_close_frame() -> None:
    short = Refusal("https://127.0.0.1:8443", "127.0.0.1:8765", "Host header '127.0.0.1:8765'")
    assert short.close_reason.startswith("origin not allowed: https://127.0.0.1:8443 is not 127.0.0.1:8765: ")
    long = Refusal("https://" + "a" * 200 + ".example", "b" * 100, "Host header")
    for refusal in (short, long):
        assert len(refusal.close_reason.encode()) <= MAX_CLOSE_REASON_BYTES
        for text in (refusal.close_reason, refusal.body, refusal.log_line):
            assert "--public-url" in text and "Host $http_host" in text and "\n" not in text
    assert "127.0.0.1:8765" in short.body and "https://127.0.0.1:8443" in short.log_line


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("https://example.org/term/", PublicURL(Origin("https", "example.org", 443), "/term/")),
        ("https://example.org/term", PublicURL(Origin("https", "example.org", 443), "/term/")),
        ("https://example.org", PublicURL(Origin("https", "example.org", 443), "/")),
        ("HTTP://Example.org:8080/a/b/", PublicURL(Origin("http", "example.org", 8080), "/a/b/")),
        ("http://[::1]:8765/", PublicURL(Origin("http", "[::1]", 8765), "/")),
    ],
)
def test_public_urls(text: str, public: PublicURL) -> None:
    assert parse_public_url(text) == public


@pytest.mark.parametrize(
    "text",
    [
        "example.org/term/",
        "ftp://example.org/",
        "wss://example.org/",
        "https://user@example.org/",
        "https://example.org/?q=1",
        "https://example.org/?",
        "https://example.org/#x",
        "https:///term/",
        "https://example.org:99999/",
        "https://example.org//term/",
        "https://example.org/a/../b/",
    ],
)
def test_bad_public_urls(text: str) -> None:
    with pytest.raises(ValueError):
        parse_public_url(text)
