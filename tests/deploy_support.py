"""What the deploy tests put in front of serve.py: a certificate the test makes, a real nginx, a real Caddy.

Importable as ``deploy_support`` from any test (``pythonpath = ["tests"]``).

Rules:
- Everything lives in the test's own folder: the CA, the certificate, each proxy's config, pid file, logs and temp
  folders. Nothing touches /etc, /var or the packages' own services (which are never started).
- Each proxy listens on a free loopback port and runs in the foreground as our child (``daemon off``), so the test
  owns its pid; stop() ends it by that pid and waits until the port is free.
- Configs are the ones docs/deploy.md shows, with the ports and paths filled in (``nginx_location``,
  ``caddy_site``); the doc's text and these must say the same thing.
- "Ready" is a condition with a deadline: the port accepts. A reload is ready when the master has new workers
  (nginx) or the admin API answered (Caddy).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import ssl
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

from support import free_port, pid_alive, port_accepts, wait_until

START_TIMEOUT_S = 15.0  # nginx starts in ~20 ms, Caddy in ~100 ms; slack for two busy cores
STOP_TIMEOUT_S = 5.0
# docs/deploy.md: nginx keeps old workers (and their proxied WebSockets) alive up to this long after a reload.
WORKER_SHUTDOWN_TIMEOUT_S = 1
# Short-lived certificates: a leftover tmp folder holds nothing useful for long.
CERT_DAYS = 2


def have(binary: str) -> bool:
    return shutil.which(binary) is not None or Path("/usr/sbin", binary).exists()


def binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


# ----------------------------------------------------------------------------------------------------------------------
# Certificates (openssl CLI)


@dataclass(frozen=True)
class SiteCertificate:
    """A CA and a server certificate it signed, for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA (and checks the host name)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def spki_sha256_base64(self) -> str:
        """The server key's SPKI hash, for Chromium's --ignore-certificate-errors-spki-list."""
        der = ssl.PEM_cert_to_DER_cert(self.cert_file.read_text())
        public_key = subprocess.run(
            ["openssl", "x509", "-inform", "DER", "-pubkey", "-noout"], input=der, capture_output=True, check=True
        ).stdout
        spki = subprocess.run(
            ["openssl", "pkey", "-pubin", "-outform", "DER"], input=public_key, capture_output=True, check=True
        ).stdout
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def make_certificate(folder: Path) -> SiteCertificate:
    """A fresh CA and a server certificate (EC P-256, SAN IP:127.0.0.1 and DNS:localhost), made with openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_file = folder / "ca.key", folder / "ca.pem"
    key_file, csr, cert_file = folder / "server.key", folder / "server.csr", folder / "server.pem"
    ext = folder / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr}"

    openssl("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_file), "-days", str(CERT_DAYS),
            "-subj", "/CN=livepane test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *ec, "-keyout", str(key_file), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_file), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert_file), "-days", str(CERT_DAYS), "-extfile", str(ext))
    return SiteCertificate(ca_file=ca_file, cert_file=cert_file, key_file=key_file)


# ----------------------------------------------------------------------------------------------------------------------
# nginx


def terminate(proc: subprocess.Popen | None) -> bool:
    """SIGTERM a proxy we started, SIGKILL it if it lingers; False if it was not running."""
    if proc is None or proc.poll() is not None:
        return False
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)
    return True


def accepting(worker_pid: int) -> bool:
    """An nginx worker that still takes new connections: alive and not yet "shutting down" after a reload."""
    try:
        title = Path(f"/proc/{worker_pid}/cmdline").read_bytes()
    except OSError:
        return False
    return pid_alive(worker_pid) and b"shutting down" not in title

# How nginx may set the Host header it sends upstream (docs/deploy.md, "What each header does").
HOST_VARIANTS = ("$proxy_host", "$host", "$http_host")


def nginx_location(prefix: str, upstream_port: int, host: str = "$http_host", strip: bool = True,
                   read_timeout_s: int = 60) -> str:
    """One ``location`` block as docs/deploy.md shows it: WebSocket upgrade, the Host header, timeouts.

    ``strip``: ``proxy_pass http://127.0.0.1:PORT/;`` (with the slash: /term/x reaches serve.py as /x) or without
    it (/term/x reaches serve.py as /term/x, which serve.py does not serve).
    """
    upstream = f"http://127.0.0.1:{upstream_port}" + ("/" if strip else "")
    host_line = "" if host == "$proxy_host" else f"proxy_set_header Host {host};"
    return textwrap.dedent(f"""\
        location {prefix} {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            {host_line}
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout {read_timeout_s}s;
        }}
    """)


class Nginx:
    """Debian's nginx in the foreground on a free port, serving TLS with ``cert``, configured by ``locations``."""

    def __init__(self, folder: Path, cert: SiteCertificate | None, locations: str, port: int | None = None) -> None:
        self.folder = folder
        self.cert = cert
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = folder / "nginx.conf"
        self.pid_file = folder / "nginx.pid"
        self.error_log = folder / "error.log"
        folder.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / "temp" / sub).mkdir(parents=True, exist_ok=True)
        self.write_config(locations)

    @property
    def scheme(self) -> str:
        return "https" if self.cert else "http"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def write_config(self, locations: str) -> None:
        d = self.folder
        tls = (
            f"listen 127.0.0.1:{self.port} ssl;\n        ssl_certificate {self.cert.cert_file};\n"
            f"        ssl_certificate_key {self.cert.key_file};"
            if self.cert
            else f"listen 127.0.0.1:{self.port};"
        )
        # As root, workers would run as nobody and could not read the test's folder: keep them as root here.
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf.write_text(textwrap.dedent(f"""\
            {user}
            worker_processes 1;
            pid {self.pid_file};
            error_log {self.error_log} info;
            worker_shutdown_timeout {WORKER_SHUTDOWN_TIMEOUT_S}s;
            events {{ worker_connections 512; }}
            http {{
                access_log {d}/access.log;
                client_body_temp_path {d}/temp/client_body;
                proxy_temp_path {d}/temp/proxy;
                fastcgi_temp_path {d}/temp/fastcgi;
                uwsgi_temp_path {d}/temp/uwsgi;
                scgi_temp_path {d}/temp/scgi;
                map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
                server {{
                    {tls}
                    server_name localhost;
            {textwrap.indent(locations, " " * 8)}
                }}
            }}
        """))

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary("nginx"), "-p", str(self.folder), "-c", str(self.conf), "-e", str(self.error_log), *args],
            capture_output=True, text=True, check=False, timeout=STOP_TIMEOUT_S,
        )

    def start(self) -> Nginx:
        checked = self._run("-t")
        assert checked.returncode == 0, f"nginx -t:\n{checked.stderr}\n{self.conf.read_text()}"
        self.proc = subprocess.Popen(
            [binary("nginx"), "-p", str(self.folder), "-c", str(self.conf), "-e", str(self.error_log),
             "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(self.folder / "stderr.log").open("ab"),
        )
        wait_until(lambda: self.proc.poll() is not None or port_accepts(self.port), START_TIMEOUT_S, "nginx to listen")
        assert self.proc.poll() is None, f"nginx exited {self.proc.returncode}:\n{self.error_log.read_text()}"
        return self

    def workers(self) -> set[int]:
        assert self.proc is not None
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            return {int(pid) for pid in children}
        return set()

    def reload(self, locations: str | None = None) -> None:
        """``nginx -s reload`` (with a new config if given); returns once only new workers accept connections.

        The old workers close their listening sockets when told to shut down gracefully (their title then says
        "shutting down") and keep their open connections up to worker_shutdown_timeout.
        """
        if locations is not None:
            self.write_config(locations)
        checked = self._run("-t")
        assert checked.returncode == 0, f"nginx -t:\n{checked.stderr}\n{self.conf.read_text()}"
        before = self.workers()
        done = self._run("-s", "reload")
        assert done.returncode == 0, f"nginx -s reload: {done.stderr}"
        wait_until(lambda: self.workers() - before, START_TIMEOUT_S, "nginx's new workers")
        wait_until(lambda: all(not accepting(pid) for pid in before), START_TIMEOUT_S, "nginx's old workers to stop")

    def stop(self) -> None:
        if not terminate(self.proc):
            return
        for pid in self.workers():
            wait_until(lambda pid=pid: not pid_alive(pid), STOP_TIMEOUT_S, f"nginx worker {pid} to exit")

    def log(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""


# ----------------------------------------------------------------------------------------------------------------------
# Caddy


def caddy_site(prefix: str, upstream_port: int) -> str:
    """The Caddyfile routes docs/deploy.md shows: ``handle_path`` strips the prefix; Caddy keeps the client's Host
    and adds X-Forwarded-Host/Proto/For itself. ``prefix`` "/" means the site's root."""
    if prefix == "/":
        return f"reverse_proxy 127.0.0.1:{upstream_port}\n"
    bare = prefix.rstrip("/")
    return textwrap.dedent(f"""\
        redir {bare} {bare}/
        handle_path {bare}/* {{
            reverse_proxy 127.0.0.1:{upstream_port}
        }}
    """)


class Caddy:
    """Debian's Caddy in the foreground on a free port, TLS with ``cert`` (never ACME), admin API on its own port."""

    def __init__(self, folder: Path, cert: SiteCertificate, routes: str, port: int | None = None) -> None:
        self.folder = folder
        self.cert = cert
        self.port = port or free_port()
        self.admin_port = free_port()
        self.caddyfile = folder / "Caddyfile"
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.write_config(routes)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def write_config(self, routes: str) -> None:
        self.caddyfile.write_text(textwrap.dedent(f"""\
            {{
                admin 127.0.0.1:{self.admin_port}
                storage file_system {self.folder}/data
                auto_https disable_redirects
                skip_install_trust
                log {{
                    output file {self.folder}/caddy.log
                }}
            }}
            https://127.0.0.1:{self.port} {{
                tls {self.cert.cert_file} {self.cert.key_file}
            {textwrap.indent(routes, " " * 4)}
            }}
        """))

    def _env(self) -> dict[str, str]:
        # Caddy keeps state under $HOME/.local/share and $XDG_CONFIG_HOME: point both into the test's folder.
        return {**os.environ, "HOME": str(self.folder), "XDG_DATA_HOME": str(self.folder / "data"),
                "XDG_CONFIG_HOME": str(self.folder / "config")}

    def start(self) -> Caddy:
        self.proc = subprocess.Popen(
            [binary("caddy"), "run", "--config", str(self.caddyfile), "--adapter", "caddyfile"],
            env=self._env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(self.folder / "stderr.log").open("ab"),
        )
        wait_until(lambda: self.proc.poll() is not None or port_accepts(self.port), START_TIMEOUT_S, "Caddy to listen")
        assert self.proc.poll() is None, f"caddy exited {self.proc.returncode}:\n{self.log()}"
        return self

    def stop(self) -> None:
        terminate(self.proc)

    def log(self) -> str:
        return "".join(
            p.read_text(errors="replace") for p in (self.folder / "stderr.log", self.folder / "caddy.log") if p.exists()
        )
