"""Loopback static file server with HTTP range requests (what Foxglove's remote-file source needs).

    python3 serve.py ROOT [--port 8765] [--mount /data=/path/to/dir ...]

Serves ROOT at ``/`` and each ``--mount PREFIX=DIR`` at ``PREFIX/``; binds 127.0.0.1 only.
Standard library only (``http.server`` has no Range support, hence this file).
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import re
import shutil
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    """Static files from ``mounts`` (URL prefix, folder), with byte ranges and CORS."""

    mounts: list[tuple[str, Path]] = []
    protocol_version = "HTTP/1.1"

    def _resolve(self) -> Path | None:
        path = unquote(urlsplit(self.path).path)
        for prefix, root in self.mounts:  # longest prefix first
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                rel = path[len(prefix.rstrip("/")) :].lstrip("/") or "index.html"
                target = Path(os.path.normpath(root / rel))  # symlinks allowed, ".." not
                if target.is_relative_to(root) and target.is_file():
                    return target
                return None
        return None

    def _headers(self, status: int, length: int, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header(
            "Access-Control-Expose-Headers", "Accept-Ranges, Content-Range, Content-Length"
        )
        self.send_header("Cache-Control", "no-store")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()

    def do_OPTIONS(self) -> None:  # CORS preflight (Range header)
        self._headers(
            204,
            0,
            {
                "Access-Control-Allow-Headers": "Range",
                "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            },
        )

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        target = self._resolve()
        if target is None:
            self._headers(404, 0, {})
            return
        size = target.stat().st_size
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        start, end, status = 0, size - 1, 200
        header = self.headers.get("Range")
        if header:
            match = _RANGE.match(header.strip())
            if not match or (not match[1] and not match[2]):
                self._headers(416, 0, {"Content-Range": f"bytes */{size}"})
                return
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:  # suffix range: last N bytes
                start = max(size - int(match[2]), 0)
            if start > end or start >= size:
                self._headers(416, 0, {"Content-Range": f"bytes */{size}"})
                return
            status = 206
        length = end - start + 1
        extra = {"Content-Type": ctype}
        if status == 206:
            extra["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._headers(status, length, extra)
        if body:
            with target.open("rb") as f:
                f.seek(start)
                try:
                    shutil.copyfileobj(_Limited(f, length), self.wfile)
                except (BrokenPipeError, ConnectionResetError):
                    pass

    def log_message(self, fmt: str, *args: object) -> None:
        if os.environ.get("SERVE_LOG"):
            sys.stderr.write(
                f"{self.command} {self.path} {self.headers.get('Range', '')} "
                f"-> {args[1] if len(args) > 1 else ''}\n"
            )


def make_handler(mounts: list[tuple[str, Path]]) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving ``mounts`` (longest prefix first)."""
    return type("Handler", (_Handler,), {"mounts": mounts})


class _Limited:
    def __init__(self, f, n: int) -> None:
        self.f, self.n = f, n

    def read(self, size: int = -1) -> bytes:
        if self.n <= 0:
            return b""
        size = self.n if size < 0 else min(size, self.n)
        data = self.f.read(size)
        self.n -= len(data)
        return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mount", action="append", default=[], metavar="PREFIX=DIR")
    args = parser.parse_args()
    mounts = [
        ("/" + p.strip("/"), Path(d).resolve()) for p, d in (m.split("=", 1) for m in args.mount)
    ]
    mounts.sort(key=lambda m: -len(m[0]))
    mounts.append(("/", args.root.resolve()))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(mounts))
    print(f"serving on http://127.0.0.1:{args.port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
