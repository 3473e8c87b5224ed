"""A small caching HTTP proxy for apt, run on the lab's gateway address.

Lab nodes fetch packages through it, so five nodes installing docker.io download it once, and a second lab run
downloads nothing. It also serves files of its own (``--serve``: the lab's docker-ce repository), asked for directly
or through it at its own address. Files under ``pool/`` and ``by-hash/`` never change once published, so they are cached forever;
index files are passed through. Only hosts in the allow list are forwarded to, so the proxy cannot carry lab traffic
anywhere else.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEFAULT_PORT = 3142
DEFAULT_ALLOWED_HOSTS = ("deb.debian.org", "security.debian.org", "archive.ubuntu.com", "security.ubuntu.com")
CHUNK = 1 << 16
UPSTREAM_TIMEOUT = 60
HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def is_immutable(path: str) -> bool:
    return "/pool/" in path or "/by-hash/" in path or path.endswith(".deb")


def cache_path(cache_dir: Path, host: str, path: str) -> Path:
    clean = Path(urllib.parse.unquote(path)).as_posix().lstrip("/")
    target = (cache_dir / host / clean).resolve()
    if cache_dir.resolve() not in target.parents:
        raise ValueError(f"path escapes the cache: {path}")
    return target


class AptProxyHandler(BaseHTTPRequestHandler):
    server_version = "swarmforge-aptproxy/1"
    cache_dir: Path
    allowed_hosts: frozenset[str]
    served_dir: Path | None = None
    own_names: frozenset[str] = frozenset()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class names it so
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def _handle(self, send_body: bool) -> None:
        url = urllib.parse.urlsplit(self.path)
        if self.served_dir is not None and (not url.scheme and self.path.startswith("/")
                                            or url.scheme == "http" and url.hostname in self.own_names):
            self._serve_own(url.path, send_body)
            return
        if url.scheme != "http" or not url.hostname:
            self.send_error(400, "this proxy serves absolute http:// URLs only")
            return
        if url.hostname not in self.allowed_hosts:
            self.send_error(403, f"{url.hostname} is not in the lab apt proxy's allow list")
            return
        path = url.path + (f"?{url.query}" if url.query else "")
        if send_body and is_immutable(url.path):
            cached = cache_path(self.cache_dir, url.hostname, url.path)
            if cached.is_file():
                self._send_file(cached)
                return
            self._fetch(url.hostname, url.port or 80, path, cached, send_body)
            return
        self._fetch(url.hostname, url.port or 80, path, None, send_body)

    def _serve_own(self, path: str, send_body: bool) -> None:
        assert self.served_dir is not None
        try:
            target = cache_path(self.served_dir, ".", path)
        except ValueError:
            self.send_error(404)
            return
        if not target.is_file():
            self.send_error(404, f"{path} is not served here")
            return
        if send_body:
            self._send_file(target)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(target.stat().st_size))
        self.end_headers()

    def _send_file(self, cached: Path) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(cached.stat().st_size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        with cached.open("rb") as source:
            shutil.copyfileobj(source, self.wfile, CHUNK)

    def _fetch(self, host: str, port: int, path: str, cached: Path | None, send_body: bool) -> None:
        upstream = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"host"}}
        try:
            upstream.request(self.command, path, headers=headers)
            response = upstream.getresponse()
        except OSError as error:
            self.send_error(502, f"upstream {host}: {error}")
            return
        try:
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_HEADERS:
                    self.send_header(key, value)
            self.end_headers()
            if send_body:
                self._relay(response, cached if response.status == 200 else None)
        finally:
            upstream.close()

    def _relay(self, response: http.client.HTTPResponse, cached: Path | None) -> None:
        sink = None
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            sink = tempfile.NamedTemporaryFile(dir=cached.parent, delete=False)  # noqa: SIM115 - renamed below
        complete = False
        try:
            while chunk := response.read(CHUNK):
                self.wfile.write(chunk)
                if sink is not None:
                    sink.write(chunk)
            complete = True
        finally:
            if sink is not None:
                sink.close()
                if complete:
                    os.replace(sink.name, cached)
                else:
                    os.unlink(sink.name)


def serve(bind: str, port: int, cache_dir: Path, allowed_hosts: tuple[str, ...], served_dir: Path | None = None,
          own_names: tuple[str, ...] = ()) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    handler = type("Handler", (AptProxyHandler,), {"cache_dir": cache_dir, "allowed_hosts": frozenset(allowed_hosts),
                                                   "served_dir": served_dir, "own_names": frozenset((bind, *own_names))})
    server = ThreadingHTTPServer((bind, port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


def pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text(encoding="utf-8"))
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def start_daemon(bind: str, port: int, cache_dir: Path, pid_file: Path, log_file: Path, served_dir: Path | None = None,
                 own_names: tuple[str, ...] = ()) -> None:
    """Start the proxy in the background unless the one recorded in pid_file still runs."""
    if pid_alive(pid_file):
        return
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "lab.aptproxy", "--bind", bind, "--port", str(port), "--cache", str(cache_dir),
             *(["--serve", str(served_dir)] if served_dir else []), *(f"--own-name={name}" for name in own_names)],
            stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    pid_file.write_text(str(process.pid), encoding="utf-8")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection(bind, port, timeout=1).connect()
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"the apt proxy exited at start; see {log_file}") from None
            time.sleep(0.2)
    raise RuntimeError(f"the apt proxy did not listen on {bind}:{port}; see {log_file}")


def stop_daemon(pid_file: Path) -> None:
    if pid_alive(pid_file):
        os.kill(int(pid_file.read_text(encoding="utf-8")), signal.SIGTERM)
    pid_file.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--allow-host", action="append", dest="allowed_hosts")
    parser.add_argument("--serve", type=Path, help="a folder served at this proxy's own address")
    parser.add_argument("--own-name", action="append", dest="own_names", default=[],
                        help="another name of this proxy's address (as the nodes reach it)")
    args = parser.parse_args()
    serve(args.bind, args.port, args.cache, tuple(args.allowed_hosts or DEFAULT_ALLOWED_HOSTS), args.serve,
          tuple(args.own_names))


if __name__ == "__main__":
    main()
