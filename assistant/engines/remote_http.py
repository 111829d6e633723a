"""A minimal HTTP/1.1 client over a raw socket that a Stop can interrupt at any moment.

Why not http.client or urllib: their reads block for the whole timeout, and a socket timeout in the
middle of their buffered reader leaves the response in an undefined state. Here every wait (DNS
aside) is a loop of short `select`/`recv` slices that asks `should_stop()` in between, so Stop is
noticed within POLL_S even when the server accepted the connection and then says nothing at all.
One request per connection (`Connection: close`): no pooling state to get wrong, and the cost of a
new TCP connection is nothing next to generating an answer.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from assistant.models.remote_server import RemoteError

POLL_S = 0.05  # how often a wait looks at should_stop: Stop is confirmed well inside 300 ms
MAX_HEADER_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024  # one SSE line or chunk-size line; more means the stream is not SSE


class Stopped(Exception):
    """should_stop() said yes while waiting for the server."""


def never() -> bool:
    return False


@dataclass
class Response:
    """Status and headers of a response; the body is read from `chunks()` as it arrives."""

    status: int
    reason: str
    headers: dict[str, str]
    _conn: _Connection = field(repr=False)

    def chunks(self) -> Iterator[bytes]:
        """Body bytes as they arrive (chunked, Content-Length or until the server closes)."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            yield from self._conn.chunked_body()
        elif "content-length" in self.headers:
            try:
                length = int(self.headers["content-length"])
            except ValueError:
                raise RemoteError("The server sent a response with an invalid Content-Length.") from None
            yield from self._conn.sized_body(length)
        else:
            yield from self._conn.body_until_close()

    def read(self, limit: int = 1024 * 1024) -> bytes:
        """The whole body (for small JSON answers), cut at `limit` bytes."""
        body = bytearray()
        for piece in self.chunks():
            body += piece
            if len(body) >= limit:
                break
        return bytes(body[:limit])

    def close(self) -> None:
        self._conn.close()


def request(
    base_url: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    connect_timeout_s: float = 10.0,
    read_timeout_s: float = 120.0,
    should_stop: Callable[[], bool] = never,
) -> Response:
    """Send one request to `base_url` + `path`; raises RemoteError (in words) or Stopped.

    The caller closes the returned Response (its socket) when done with the body.
    """
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn = _Connection(base_url, read_timeout_s, should_stop)
    try:
        conn.connect(host, port, connect_timeout_s, tls=parts.scheme == "https")
        lines = [f"{method} {parts.path}{path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close",
                 "Accept-Encoding: identity", "User-Agent: assistant"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        conn.send_all(head + (body or b""))
        status, reason, response_headers = conn.read_head()
    except BaseException:
        conn.close()
        raise
    return Response(status, reason, response_headers, conn)


class _Connection:
    def __init__(self, base_url: str, read_timeout_s: float, should_stop: Callable[[], bool]) -> None:
        self.base_url = base_url
        self.read_timeout_s = read_timeout_s
        self.should_stop = should_stop
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.closed_by_server = False

    # ---- connecting ------------------------------------------------------------------------------

    def connect(self, host: str, port: int, timeout_s: float, *, tls: bool) -> None:
        try:
            # Name lookup is the one wait Stop cannot cut short (getaddrinfo has no timeout in Python).
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise RemoteError(
                f"Could not find the server {host!r} ({error.strerror}): check the address in Settings."
            ) from None
        deadline = time.monotonic() + timeout_s
        last_error: OSError | None = None
        for family, kind, proto, _name, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                self._connect_one(sock, address, deadline)
            except OSError as error:
                sock.close()
                last_error = error
                continue
            except BaseException:
                sock.close()
                raise
            self.sock = sock
            break
        if self.sock is None:
            raise self._connect_error(last_error, timeout_s)
        if tls:
            self._handshake(host, deadline, timeout_s)
        self.sock.settimeout(POLL_S)

    def _connect_one(self, sock: socket.socket, address: tuple, deadline: float) -> None:
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            raise OSError(code, errno.errorcode.get(code, str(code)))
        if code != 0:  # connecting in the background: writable once it succeeded or failed
            self._wait(sock, write=True, deadline=deadline, on_timeout=TimeoutError)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, errno.errorcode.get(code, str(code)))

    def _connect_error(self, error: OSError | None, timeout_s: float) -> RemoteError:
        if isinstance(error, TimeoutError):
            return RemoteError(
                f"The server at {self.base_url} did not accept a connection within {timeout_s:g} s: "
                "check the address and that the machine is on."
            )
        if error is not None and error.errno == errno.ECONNREFUSED:
            return RemoteError(f"Could not reach the server at {self.base_url}: is it running?")
        detail = f" ({error.strerror or error})" if error is not None else ""
        return RemoteError(f"Could not reach the server at {self.base_url}{detail}: is it running?")

    def _handshake(self, host: str, deadline: float, timeout_s: float) -> None:
        assert self.sock is not None
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=host, do_handshake_on_connect=False)
        timeout = RemoteError(
            f"The server at {self.base_url} did not finish the TLS handshake in {timeout_s:g} s."
        )
        while True:
            try:
                self.sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                self._wait(self.sock, write=False, deadline=deadline, on_timeout=timeout)
            except ssl.SSLWantWriteError:
                self._wait(self.sock, write=True, deadline=deadline, on_timeout=timeout)
            except (ssl.SSLError, ssl.CertificateError) as error:
                raise RemoteError(f"Secure connection to {self.base_url} failed: {error}") from None

    def _wait(
        self, sock: socket.socket, *, write: bool, deadline: float, on_timeout: type[Exception] | Exception
    ) -> None:
        """Wait until `sock` is ready, in POLL_S slices; Stopped or `on_timeout` raised otherwise."""
        while True:
            if self.should_stop():
                raise Stopped()
            if time.monotonic() >= deadline:
                raise on_timeout if isinstance(on_timeout, Exception) else on_timeout()
            watched = [sock]
            readable, writable, _ = select.select(
                [] if write else watched, watched if write else [], [], POLL_S
            )
            if readable or writable:
                return

    # ---- sending and receiving ---------------------------------------------------------------

    def send_all(self, data: bytes) -> None:
        assert self.sock is not None
        view = memoryview(data)
        deadline = time.monotonic() + self.read_timeout_s
        while view:
            if self.should_stop():
                raise Stopped()
            try:
                sent = self.sock.send(view)
            except (TimeoutError, ssl.SSLWantWriteError, BlockingIOError):
                if time.monotonic() >= deadline:
                    raise self._silence_error() from None
                continue
            except OSError as error:
                raise RemoteError(f"The connection to {self.base_url} broke while sending: {error}") from None
            view = view[sent:]

    def fill(self) -> bool:
        """Append the next bytes to the buffer; False once the server has closed the connection."""
        assert self.sock is not None
        if self.closed_by_server:
            return False
        deadline = time.monotonic() + self.read_timeout_s
        while True:
            if self.should_stop():
                raise Stopped()
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError, BlockingIOError):
                if time.monotonic() >= deadline:
                    raise self._silence_error() from None
                continue
            except OSError as error:
                raise RemoteError(f"The connection to {self.base_url} broke: {error}") from None
            if not data:
                self.closed_by_server = True
                return False
            self.buffer += data
            return True

    def _silence_error(self) -> RemoteError:
        return RemoteError(
            f"The server at {self.base_url} sent nothing for {self.read_timeout_s:g} s; it may be "
            "overloaded or stuck. Try again, or use a smaller model on it."
        )

    def read_line(self, limit: int = MAX_LINE_BYTES) -> bytes | None:
        """One line without its line end; None at the end of the stream (a last unterminated line
        is returned first)."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end]).rstrip(b"\r")
                del self.buffer[: end + 1]
                return line
            if len(self.buffer) > limit:
                raise RemoteError(f"The server at {self.base_url} sent a line longer than {limit} bytes.")
            if not self.fill():
                if self.buffer:
                    line = bytes(self.buffer)
                    self.buffer.clear()
                    return line
                return None

    def read_head(self) -> tuple[int, str, dict[str, str]]:
        status_line = self.read_line(MAX_HEADER_BYTES)
        if status_line is None:
            raise RemoteError(f"The server at {self.base_url} closed the connection without answering.")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise RemoteError(
                f"The server at {self.base_url} did not answer in HTTP (it began {status_line[:40]!r}): "
                "check the address and the port."
            )
        headers: dict[str, str] = {}
        total = 0
        while True:
            line = self.read_line(MAX_HEADER_BYTES)
            if line is None or not line:
                break
            total += len(line)
            if total > MAX_HEADER_BYTES:
                raise RemoteError(f"The server at {self.base_url} sent oversized response headers.")
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), parts[2] if len(parts) > 2 else "", headers

    def chunked_body(self) -> Iterator[bytes]:
        while True:
            size_line = self.read_line(1024)
            if size_line is None:
                return  # closed without the last chunk: the caller decides whether that matters
            try:
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise RemoteError(f"The server at {self.base_url} sent a malformed chunked body.") from None
            if size == 0:
                return
            while len(self.buffer) < size + 2:
                if not self.fill():
                    break
            piece = bytes(self.buffer[:size])
            del self.buffer[: size + 2]
            if piece:
                yield piece

    def sized_body(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            if not self.buffer and not self.fill():
                return
            piece = bytes(self.buffer[:remaining])
            del self.buffer[: len(piece)]
            remaining -= len(piece)
            yield piece

    def body_until_close(self) -> Iterator[bytes]:
        while True:
            if self.buffer:
                piece = bytes(self.buffer)
                self.buffer.clear()
                yield piece
            if not self.fill():
                return

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
