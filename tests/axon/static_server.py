"""A plain static file server with HTTP Range support, for testing that a registry directory
can be hosted by any web server, and for simulating interrupted downloads."""

from __future__ import annotations

import contextlib
import http.server
import pathlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Behaviour:
    """Knobs the test turns: cut the next N blob responses after ``cut_at`` bytes."""

    cut_next: int = 0
    cut_at: int = 0
    ignore_ranges: bool = False
    cut_start: int | None = None  # cut every response to a range starting here
    ranges: list[str | None] = field(default_factory=list)


def _handler(root: pathlib.Path, behaviour: Behaviour) -> type[http.server.BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = (root / self.path.lstrip("/")).resolve()
            if root.resolve() not in path.parents or not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start, end = 0, len(data) - 1
            header = self.headers.get("Range")
            is_blob = "/blobs/" in self.path
            if is_blob:
                with lock:
                    behaviour.ranges.append(header)
            if header and not behaviour.ignore_ranges:
                match = re.match(r"bytes=(\d+)-(\d*)$", header)
                assert match, header
                start = int(match.group(1))
                end = min(int(match.group(2)), end) if match.group(2) else end
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:end + 1]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with lock:
                cut = is_blob and behaviour.cut_next > 0
                if cut:
                    behaviour.cut_next -= 1
                cut = cut or (is_blob and header is not None and behaviour.cut_start == start)
            if cut:
                self.wfile.write(body[: behaviour.cut_at])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def static_server(root: pathlib.Path) -> Iterator[tuple[str, Behaviour]]:
    """Serve ``root`` on a random loopback port; yields (base URL, behaviour)."""
    behaviour = Behaviour()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, behaviour))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", behaviour
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
