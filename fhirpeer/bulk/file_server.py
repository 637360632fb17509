"""Serve an export folder's NDJSON parts read-only over loopback HTTP, for a server that fetches them itself.

HAPI's ``$import`` downloads the files it is given by URL. :class:`ExportFileServer` starts a threaded HTTP server
on ``127.0.0.1`` (a free port unless one is given) that answers ``GET`` and ``HEAD`` for the part files listed in
the folder's manifest, and 404 for everything else (the manifest itself, the key sidecar, staging folders, any
other path); other methods get 405. Files are streamed, never read whole.

By default every request must carry HTTP Basic credentials generated for this server
(``basic_credential`` is ``"user:password"``, the form HAPI's ``storageDetail.credentialHttpBasic`` takes), so
other local users cannot read the export while it is being served. Nothing is logged except method, file name
and status at DEBUG level.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import shutil
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

from .manifest import Manifest, read_manifest

__all__ = ["NDJSON_CONTENT_TYPE", "ExportFileServer"]

log = logging.getLogger("fhirpeer.bulk.files")

#: The NDJSON media type of the FHIR Bulk Data specification, which HAPI's FetchFilesStep accepts.
NDJSON_CONTENT_TYPE = "application/fhir+ndjson"
_CHUNK = 1 << 16


class ExportFileServer:
    """A context manager serving ``directory``'s manifest-listed files; ``url`` is the base URL while it runs.

    ``require_auth=False`` serves without credentials (for a server that cannot send them).
    """

    def __init__(
        self,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: bool = True,
        verify: bool = True,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.manifest: Manifest = read_manifest(self.directory, verify=verify)
        self.host = host
        self._requested_port = port
        self._username = "fhirpeer" if require_auth else None
        self._password = secrets.token_urlsafe(24) if require_auth else None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._served_lock = threading.Lock()
        self.requests_served = 0

    # --- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> ExportFileServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind the port and serve from a daemon thread."""
        if self._server is not None:
            return
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer((self.host, self._requested_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fhirpeer-export-files", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    # --- addresses -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the file server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL ending in ``/``; a part's URL is ``url + file name``."""
        return f"http://{self.host}:{self.port}/"

    def url_for(self, file_name: str) -> str:
        return self.url + quote(file_name)

    @property
    def basic_credential(self) -> str | None:
        """``"user:password"`` for HTTP Basic, or None when the server serves without credentials."""
        if self._username is None or self._password is None:
            return None
        return f"{self._username}:{self._password}"

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"ExportFileServer({str(self.directory)!r}, {where}, credentials=***)"

    # --- request handling ------------------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        expected = self.basic_credential
        if expected is None:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given, expected)

    def count_served(self) -> None:
        with self._served_lock:
            self.requests_served += 1

    def file_for(self, request_path: str) -> Path | None:
        """The served file for a request path, or None when the path names no manifest-listed file."""
        name = unquote(urlsplit(request_path).path).lstrip("/")
        if name not in self.manifest.file_names:
            return None
        path = self.directory / name
        return path if path.is_file() else None


def _handler_for(files: ExportFileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fhirpeer-export-files"
        sys_version = ""

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def _refuse_method(self) -> None:
            self._status_only(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "GET, HEAD"})

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

        def _serve(self, *, send_body: bool) -> None:
            if not files.authorized(self.headers.get("Authorization")):
                self._status_only(HTTPStatus.UNAUTHORIZED, {"WWW-Authenticate": 'Basic realm="fhirpeer export"'})
                return
            path = files.file_for(self.path)
            if path is None:
                self._status_only(HTTPStatus.NOT_FOUND)
                return
            size = path.stat().st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", NDJSON_CONTENT_TYPE)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if send_body:
                with path.open("rb") as handle:
                    shutil.copyfileobj(handle, self.wfile, _CHUNK)
            files.count_served()

        def _status_only(self, status: HTTPStatus, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            # The default writes the request line to stderr; keep only the file name (no query) at DEBUG.
            log.debug("export file server: %s %s", self.command, urlsplit(self.path).path)

    return Handler
