"""Loopback networking for the benchmark: the proxy that stamps the end of a cold start, and the
kept-alive invoke client of the warm phase.  Standard library only, besides tools/harness.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from harness import INVOKE_PATH

NEXT_REQUEST_LINE = b"GET /2018-06-01/runtime/invocation/next "


def _no_delay(sock: socket.socket) -> socket.socket:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class RecordingProxy:
    """A TCP pass-through from a free loopback port (``.port``, known at once, so the function's
    environment can name it before the RIE exists) to the RIE's Runtime API (``.upstream_port``,
    set once the RIE has one).  ``wait_first_next`` gives the time.monotonic_ns() at which the
    bytes of the function's first ``GET .../next`` were read: the end of its cold start.

    Only in the path for cold starts: its Python forwarding would add to every warm round trip.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.upstream_port: int | None = None
        self.first_next_ns: int | None = None
        self._first_next = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True, name="proxy-accept").start()

    def wait_first_next(self, timeout: float) -> int | None:
        self._first_next.wait(timeout)
        return self.first_next_ns

    def _note(self, data: bytes, now: int) -> None:
        if self.first_next_ns is None and NEXT_REQUEST_LINE in data:
            self.first_next_ns = now
            self._first_next.set()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            try:
                # Read the function's first bytes before connecting upstream: a function that
                # connects and sends at once is stamped one wake-up after its request, not after
                # our own set-up.
                _no_delay(client).settimeout(30)
                first = client.recv(65536)
                self._note(first, time.monotonic_ns())
                client.settimeout(None)
                upstream = _no_delay(socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5))
                upstream.settimeout(None)
                upstream.sendall(first)
            except (OSError, TypeError):  # TypeError: no upstream_port yet
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_function: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_function:
                    self._note(data, time.monotonic_ns())
                sink.sendall(data)
        except OSError:
            pass
        # Half-close towards the peer so it sees EOF, as it would without us.
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        # shutdown() wakes the accept thread; close() alone would leave it blocked.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()


class KeepAliveInvoker:
    """Invocations one after another over one kept-alive connection to the RIE, with the request
    built once per body, so that the client's own cost per warm invocation is a send and a read
    (harness.Lambda.invoke opens an http.client connection per call).

    ``invoke(body)`` -> (status, answer, seconds), timed from just before the send to the last
    byte of the answer; a connection the RIE closed is re-opened outside the timed span.
    """

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._reader = None  # the socket's buffered reader: readline() and read(n) in C
        self._body: bytes | None = None
        self._request = b""

    def close(self) -> None:
        if self._sock is not None:
            self._reader.close()
            self._sock.close()
            self._sock = None

    def invoke(self, body: bytes) -> tuple[int, bytes, float]:
        if body is not self._body:
            self._body = body
            self._request = (f"POST {INVOKE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                             f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        if self._sock is None:
            self._sock = _no_delay(socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout))
            self._reader = self._sock.makefile("rb")
        started = time.perf_counter_ns()
        self._sock.sendall(self._request)
        status, answer, close = self._read_response()
        elapsed = (time.perf_counter_ns() - started) / 1e9
        if close:
            self.close()
        return status, answer, elapsed

    def _read(self, size: int | None = None) -> bytes:
        """A line without its CRLF, or (SIZE) that many bytes."""
        data = self._reader.readline(65536) if size is None else self._reader.read(size)
        if not (data.endswith(b"\r\n") if size is None else len(data) == size):
            raise ConnectionError("the RIE closed the connection mid-answer")
        return data if size is not None else data[:-2]

    def _read_response(self) -> tuple[int, bytes, bool]:
        status = int(self._read().split()[1])
        headers = {}
        while line := self._read():
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        close = headers.get(b"connection") == b"close"
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            parts = []
            while size := int(self._read().split(b";")[0], 16):
                parts.append(self._read(size))
                self._read()  # the CRLF after each chunk
            while self._read():
                pass  # trailers, up to the blank line
            return status, b"".join(parts), close
        if b"content-length" not in headers:
            raise ConnectionError("answer without Content-Length or chunked framing")
        return status, self._read(int(headers[b"content-length"])), close
