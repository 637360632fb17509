"""A fault-injecting reverse proxy in front of one FHIR server, for resilience tests.

It listens on ``127.0.0.1`` only and forwards every request to the one upstream it was built for (the
request path is kept, so ``proxy.base_url`` is the upstream base with the proxy's origin). Per request, when
faults are enabled and the method is selected, one seeded random draw picks at most one fault:

=================  ==========================================================================================
``p_429``          answer 429 with ``Retry-After: <retry_after>`` and an OperationOutcome; not forwarded
``p_503``          answer 503 with an OperationOutcome; not forwarded
``p_reset_before`` reset the connection (RST via ``SO_LINGER 0``) without forwarding
``p_drop_after``   forward (the server APPLIES the request), then close the connection without answering:
                   the "write applied but response lost" case
=================  ==========================================================================================

Absolute upstream URLs in responses (``Location``, ``Content-Location`` and the body, e.g. Bundle paging
links and fullUrls) are rewritten to the proxy's origin so a client keeps going through the proxy; the
proxy origin is rewritten back to the upstream's in request bodies. Example::

    with FaultProxy(fhir_base_url, seed=7, p_503=0.2, methods={"POST", "PUT"}) as proxy:
        run_sync(proxy.base_url)
        assert proxy.counters["503"] > 0
        proxy.faults_enabled = False  # look at the result without interference
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

#: Fault kinds, in the order their probabilities are laid out on the [0, 1) line of each draw.
FAULT_KINDS = ("429", "503", "reset_before", "drop_after")
#: Counter of requests sent upstream (drop_after requests included).
FORWARDED = "forwarded"
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Client headers not passed upstream: hop-by-hop ones, and those the proxy sets itself. Accept-Encoding is
#: dropped so that bodies come back uncompressed and their URLs can be rewritten.
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length", "accept-encoding"}
_TEXT_TYPES = ("json", "xml", "text", "html")
#: Event ``fault`` value when the upstream could not be reached (the client gets a 502).
UPSTREAM_ERROR = "upstream-error"


@dataclass(frozen=True)
class ProxyEvent:
    """What the proxy did with one request (``fault`` is a FAULT_KINDS entry or ``"forwarded"``)."""

    method: str
    path: str
    fault: str
    upstream_status: int | None = None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _operation_outcome(code: str, text: str) -> bytes:
    return json.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}],
        }
    ).encode()


class FaultProxy:
    """Threaded reverse proxy with seeded fault injection; a context manager (start/stop).

    Attributes ``p_429``, ``p_503``, ``p_reset_before``, ``p_drop_after``, ``retry_after``, ``methods`` and
    ``faults_enabled`` may be changed while the proxy runs.
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        p_429: float = 0.0,
        p_503: float = 0.0,
        p_reset_before: float = 0.0,
        p_drop_after: float = 0.0,
        retry_after: int = 1,
        methods: Iterable[str] | None = None,
        faults_enabled: bool = True,
        timeout: float = 60.0,
        refuse: Callable[[str, str, bytes], tuple[int, bytes] | None] | None = None,
    ) -> None:
        parts = urlsplit(upstream.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self._upstream_parts = parts
        self.p_429, self.p_503 = p_429, p_503
        self.p_reset_before, self.p_drop_after = p_reset_before, p_drop_after
        self.retry_after = retry_after
        self.methods: frozenset[str] | None = frozenset(m.upper() for m in methods) if methods else None
        self.faults_enabled = faults_enabled
        self.timeout = timeout
        # refuse(method, path, body) -> (status, body) answers a request like a server refusing its content
        self.refuse = refuse
        self.events: list[ProxyEvent] = []
        self.check_probabilities()
        self._rng = random.Random(seed)
        self._counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------- lifecycle ----------------

    def start(self) -> FaultProxy:
        """Bind a free loopback port and serve in a background thread; returns ``self``."""
        if self._server is None:
            self._server = _Server(("127.0.0.1", 0), _Handler, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="fault-proxy", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every client connection still open."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_all()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---------------- addresses and counters ----------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` of the running proxy."""
        if self._server is None:
            raise RuntimeError("FaultProxy is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The upstream base URL as seen through the proxy (same path, proxy origin)."""
        return self.origin + self._upstream_parts.path

    @property
    def counters(self) -> dict[str, int]:
        """Snapshot: one count per fault kind (``429``, ``503``, ``reset_before``, ``drop_after``) and
        ``forwarded`` (requests sent upstream, drop_after included)."""
        with self._lock:
            return {kind: self._counters[kind] for kind in (*FAULT_KINDS, FORWARDED)}

    def reset_counters(self) -> None:
        """Zero the counters and forget the recorded events."""
        with self._lock:
            self._counters.clear()
            self.events.clear()

    # ---------------- used by the handler ----------------

    def check_probabilities(self) -> tuple[float, float, float, float]:
        """The four fault probabilities, in FAULT_KINDS order; ValueError unless each is in [0, 1] and
        they add up to at most 1."""
        probabilities = (self.p_429, self.p_503, self.p_reset_before, self.p_drop_after)
        if any(not 0.0 <= p <= 1.0 for p in probabilities) or sum(probabilities) > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities must be in [0, 1] and add up to no more than 1: {probabilities}")
        return probabilities

    def choose_fault(self, method: str) -> str | None:
        """One seeded draw: the fault to inject for this request, or None to forward it normally."""
        if not self.faults_enabled or (self.methods is not None and method.upper() not in self.methods):
            return None
        probabilities = self.check_probabilities()
        with self._lock:
            draw = self._rng.random()
        edge = 0.0
        for kind, probability in zip(FAULT_KINDS, probabilities, strict=True):
            edge += probability
            if draw < edge:
                return kind
        return None

    def record(self, event: ProxyEvent, *, forwarded: bool) -> None:
        """Count one handled request."""
        with self._lock:
            self.events.append(event)
            if event.fault in FAULT_KINDS:
                self._counters[event.fault] += 1
            if forwarded:
                self._counters[FORWARDED] += 1

    def to_upstream(self, data: bytes) -> bytes:
        """Rewrite the proxy origin to the upstream origin (request bodies)."""
        return _replace_origin(data, self.origin, _origin(self.upstream))

    def to_client(self, data: bytes) -> bytes:
        """Rewrite the upstream origin to the proxy origin (response headers and bodies)."""
        return _replace_origin(data, _origin(self.upstream), self.origin)

    def forward(
        self, method: str, path: str, client_headers: Iterable[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one client request upstream; returns (status, headers, body) for the client.

        Proxy URLs in the request body become upstream URLs, and upstream URLs in the response's
        Location/Content-Location headers and text body become proxy URLs.
        """
        parts = self._upstream_parts
        body = self.to_upstream(body)
        headers = {k: v for k, v in client_headers if k.lower() not in _NOT_FORWARDED}
        headers["Host"] = parts.netloc
        headers["Content-Length"] = str(len(body))
        conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(parts.hostname or "", parts.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        out_headers = [
            (name, self._header_to_client(name, value))
            for name, value in response.getheaders()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length"
        ]
        if any(t in response.getheader("content-type", "").lower() for t in _TEXT_TYPES):
            data = self.to_client(data)
        return response.status, out_headers, data

    def _header_to_client(self, name: str, value: str) -> str:
        if name.lower() not in ("location", "content-location"):
            return value
        return self.to_client(value.encode("latin-1")).decode("latin-1")


def _replace_origin(data: bytes, old: str, new: str) -> bytes:
    """Replace ``old`` origin with ``new`` where it is not followed by more port digits."""
    return re.sub(re.escape(old.encode()) + rb"(?![0-9])", new.encode(), data)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its FaultProxy and tracks open client connections."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], proxy: FaultProxy):
        self.proxy = proxy
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Shut down client connections still open (idle keep-alive ones block their handler threads)."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients vanishing mid-request are expected here: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, then injects a fault or forwards it."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server
    _body: bytes = b""

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _handle(self) -> None:
        proxy = self.server.proxy
        self._body = self._read_body()
        if not self.path.startswith("/"):  # absolute-form targets would make us an open proxy
            self._respond(400, [("Content-Type", "text/plain")], b"origin-form request targets only")
            return
        refusal = proxy.refuse(self.command, self.path, self._body) if proxy.refuse else None
        if refusal is not None:
            proxy.record(ProxyEvent(self.command, self.path, "refused"), forwarded=False)
            self._respond(refusal[0], [("Content-Type", "application/fhir+json")], refusal[1])
            return
        fault = proxy.choose_fault(self.command)
        if fault == "reset_before":
            proxy.record(ProxyEvent(self.command, self.path, fault), forwarded=False)
            self._reset()
        elif fault in ("429", "503"):
            proxy.record(ProxyEvent(self.command, self.path, fault), forwarded=False)
            self._respond_fault(fault)
        else:
            self._forward(proxy, fault)

    def _forward(self, proxy: FaultProxy, fault: str | None) -> None:
        try:
            status, headers, data = proxy.forward(self.command, self.path, self.headers.items(), self._body)
        except OSError as exc:
            proxy.record(ProxyEvent(self.command, self.path, UPSTREAM_ERROR), forwarded=True)
            outcome = _operation_outcome("transient", f"fault proxy: upstream unreachable ({exc})")
            self._respond(502, [("Content-Type", "application/fhir+json")], outcome)
            return
        proxy.record(ProxyEvent(self.command, self.path, fault or FORWARDED, status), forwarded=True)
        if fault == "drop_after":
            self._drop()
        else:
            self._respond(status, headers, data)

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _respond(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if status >= 200 and status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(data)

    def _respond_fault(self, fault: str) -> None:
        if fault == "429":
            headers = [("Retry-After", str(self.server.proxy.retry_after))]
            data = _operation_outcome("throttled", "fault proxy: too many requests")
        else:
            headers, data = [], _operation_outcome("transient", "fault proxy: service unavailable")
        headers.append(("Content-Type", "application/fhir+json"))
        self._respond(int(fault), headers, data)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _drop(self) -> None:
        """Close the connection without sending any response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
