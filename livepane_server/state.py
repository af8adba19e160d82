"""The state folder: what one user's servers keep across restarts (the token, used tickets, who serves which port).

Layout, under ``$XDG_STATE_HOME/livepane/`` (default ``~/.local/state/livepane/``; docs/architecture.md "Running it"):

| file | mode | holds | written |
| --- | --- | --- | --- |
| (the folder) | 0700 | | at the first start |
| ``credentials.json`` | 0600 | ``{"version": 1, "token": T, "retired_cookies": [fp, ...]}`` | first start; rotation |
| ``tickets-<token fp>.journal`` | 0600 | used ticket nonces (auth.TicketJournal) | each redeemed ticket |
| ``serve-<port>.pid`` | 0644 | the pid of the process serving that port | start, reload; removed on a stop |

Rules:
- The token is never logged. An explicit token (``--token``, ``LIVEPANE_TOKEN``) is never written here.
- The credentials file is created whole or not at all (written aside, then hard-linked into place, which fails if
  another first start won), so two servers started at once agree on one token. A rotation replaces it atomically.
- ``retired_cookies`` holds fingerprints of the cookie values of rotated tokens, never the values: they are enough to
  tell a pane "the token was rotated" rather than "unauthorized", and useless to anyone reading the file.
- A journal belongs to one token (its fingerprint is in the name), so a rotation starts with an empty one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from .auth import cookie_fingerprint, cookie_value_for

log = logging.getLogger("livepane")

APP_DIR_NAME = "livepane"
CREDENTIALS_NAME = "credentials.json"
CREDENTIALS_VERSION = 1
DIR_MODE = 0o700
SECRET_FILE_MODE = 0o600
# Token generated when none is given: 192 bits, URL-safe.
TOKEN_BYTES = 24
# Fingerprints of this many rotated tokens are kept: a pane left open across more rotations than this just reads
# "unauthorized" instead of "rotated".
MAX_RETIRED_COOKIES = 32
# A token's fingerprint names its ticket journal: 64 bits tell tokens apart and say nothing about the token.
TOKEN_FINGERPRINT_HEX = 16


class StateError(Exception):
    """The state folder or a file in it cannot be used; the message says which and what to do."""


@dataclasses.dataclass(frozen=True)
class Credentials:
    token: str
    retired_cookies: tuple[str, ...] = ()  # oldest first


def state_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/livepane``, or ``~/.local/state/livepane`` (XDG Base Directory spec: a relative value is
    ignored)."""
    base = environ.get("XDG_STATE_HOME", "")
    if not base or not os.path.isabs(base):
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".local", "state")
    return Path(base) / APP_DIR_NAME


def ensure_dir(path: Path) -> None:
    """Make the folder 0700 (tighten it if it is looser and ours)."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        status = path.stat()
        if status.st_mode & 0o077 and status.st_uid == os.getuid():
            path.chmod(DIR_MODE)
            log.warning("state folder %s was readable by others: now mode 0700", path)
    except OSError as exc:
        raise StateError(f"cannot use the state folder {path}: {exc}") from exc


def token_fingerprint(token: str) -> str:
    digest = hashlib.sha256(b"livepane token fingerprint v1\n" + token.encode())
    return digest.hexdigest()[:TOKEN_FINGERPRINT_HEX]


def journal_path(directory: Path, token: str) -> Path:
    return directory / f"tickets-{token_fingerprint(token)}.journal"


def pid_path(directory: Path, port: int) -> Path:
    return directory / f"serve-{port}.pid"


def _read(directory: Path) -> Credentials | None:
    path = directory / CREDENTIALS_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc
    try:
        data = json.loads(raw)
        token, retired = data["token"], data.get("retired_cookies", [])
        if not (isinstance(token, str) and token and isinstance(retired, list)):
            raise ValueError("unexpected shape")
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError(
            f"{path} is not a livepane credentials file ({exc}): delete it (a new token is made) or pass --token"
        ) from None
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            path.chmod(SECRET_FILE_MODE)
            log.warning("credentials file %s was readable by others: now mode 0600", path)
    return Credentials(token, tuple(str(f) for f in retired))


def _write_aside(directory: Path, credentials: Credentials) -> Path:
    """The file's content in a fresh 0600 file beside it (fsynced); the caller links or renames it into place."""
    body = {
        "version": CREDENTIALS_VERSION,
        "token": credentials.token,
        "retired_cookies": list(credentials.retired_cookies),
    }
    tmp = directory / f".{CREDENTIALS_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, SECRET_FILE_MODE)
    try:
        os.write(fd, (json.dumps(body, indent=1) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def load_or_create(directory: Path) -> tuple[Credentials, bool]:
    """The stored credentials, made on the first call (True when this call made them)."""
    ensure_dir(directory)
    existing = _read(directory)
    if existing is not None:
        return existing, False
    try:
        tmp = _write_aside(directory, Credentials(secrets.token_urlsafe(TOKEN_BYTES)))
        try:
            os.link(tmp, directory / CREDENTIALS_NAME)  # fails if another first start got there before us
            created = True
        except FileExistsError:
            created = False
        finally:
            tmp.unlink()
    except OSError as exc:
        raise StateError(f"cannot write {directory / CREDENTIALS_NAME}: {exc}") from exc
    credentials = _read(directory)
    assert credentials is not None
    return credentials, created


def rotate(directory: Path) -> Credentials:
    """A new token replaces the stored one; the old one's cookie fingerprint joins the retired ones and its ticket
    journal is deleted."""
    ensure_dir(directory)
    old = _read(directory)
    retired = list(old.retired_cookies) if old else []
    if old is not None:
        retired.append(cookie_fingerprint(cookie_value_for(old.token)))
    new = Credentials(secrets.token_urlsafe(TOKEN_BYTES), tuple(retired[-MAX_RETIRED_COOKIES:]))
    try:
        _write_aside(directory, new).replace(directory / CREDENTIALS_NAME)
    except OSError as exc:
        raise StateError(f"cannot write {directory / CREDENTIALS_NAME}: {exc}") from exc
    if old is not None:
        journal_path(directory, old.token).unlink(missing_ok=True)
    return new


def retired_cookies(directory: Path) -> tuple[str, ...]:
    """What an explicit-token server still recognises as rotated (nothing if there is no credentials file)."""
    try:
        stored = _read(directory)
    except StateError as exc:
        log.warning("%s", exc)
        return ()
    return stored.retired_cookies if stored else ()
