"""Loopback networking for the benchmark: the recording Runtime API proxy and
the kept-alive invoke client.  Standard library only.

Not in tools/harness.py because only the benchmark needs them:

* ``RecordingProxy`` sits between a function and the RIE's Runtime API and
  notes the CLOCK_MONOTONIC time at which the function's first
  ``GET /2018-06-01/runtime/invocation/next`` arrives: the end of its cold
  start.  (The start is stamped by bench/stamp_exec.c on the same clock.)
* ``KeepAliveInvoker`` posts events to the RIE over ONE kept-alive connection
  with a pre-built request, so the client's own cost per warm invocation is a
  send and a read (``harness.Lambda.invoke`` opens a new http.client
  connection per call, which is right for tests but adds a connect and
  http.client's parsing to every sample).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

NEXT_REQUEST_LINE = b"GET /2018-06-01/runtime/invocation/next "
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


class RecordingProxy:
    """A TCP pass-through on a free loopback port, one thread pair per connection.

    Bind first (``.port`` is known at once, so the function's environment can
    name it before the RIE exists), set ``.upstream_port`` once the RIE has its
    port, and ``.first_next_ns`` becomes the time.monotonic_ns() at which the
    first chunk of bytes containing a ``GET .../next`` request line was read.

    The proxy is only in the path for cold-start runs: its Python forwarding
    would add to every warm round trip.  Its recording cost is one recv
    wake-up on an otherwise idle loopback socket (tens of microseconds).
    """

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
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

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # Read the function's first bytes HERE, before connecting upstream and
                # starting threads: a function that connects and sends at once is
                # stamped one wake-up after its request, not after our own set-up.
                client.settimeout(30)
                first = client.recv(65536)
                now = time.monotonic_ns()
                client.settimeout(None)
            except OSError:
                if self._closed:
                    return
                continue
            if self.first_next_ns is None and NEXT_REQUEST_LINE in first:
                self.first_next_ns = now
                self._first_next.set()
            try:
                assert self.upstream_port is not None, "proxy used before upstream_port was set"
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
                upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if first:
                    upstream.sendall(first)
            except (OSError, AssertionError):
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
            while True:
                data = source.recv(65536)
                # The stamp is taken before anything else is done with the data.
                now = time.monotonic_ns()
                if not data:
                    break
                if from_function and self.first_next_ns is None and NEXT_REQUEST_LINE in data:
                    self.first_next_ns = now
                    self._first_next.set()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # Half-close towards the peer so it sees EOF, as it would without us.
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        # shutdown() wakes the accept thread; close() alone would leave it blocked.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass


class HTTPError(RuntimeError):
    pass


class KeepAliveInvoker:
    """Sequential invocations over one kept-alive connection to the RIE's
    invoke endpoint.  ``invoke(body)`` -> (status, body bytes, seconds).

    The clock (perf_counter_ns) starts just before the request is sent and
    stops when the last byte of the answer is in.  The connection is
    re-opened, outside the timed span, when the RIE closed it.
    """

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._prepared: dict[int, bytes] = {}

    def _connect(self) -> None:
        self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _request(self, body: bytes) -> bytes:
        key = id(body)
        request = self._prepared.get(key)
        if request is None or not request.endswith(body):
            request = (
                f"POST {INVOKE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            self._prepared = {key: request}  # keep one: the hot loop reuses one body
        return request

    def invoke(self, body: bytes) -> tuple[int, bytes, float]:
        request = self._request(body)
        if self._sock is None:
            self._connect()
        started = time.perf_counter_ns()
        self._sock.sendall(request)
        status, answer, close = self._read_response()
        elapsed = (time.perf_counter_ns() - started) / 1e9
        if close:
            self.close()
        return status, answer, elapsed

    def _recv(self) -> None:
        data = self._sock.recv(1 << 20)
        if not data:
            raise HTTPError("the RIE closed the connection mid-answer")
        self._buffer += data  # a bytearray: appending is amortised O(1), also for 5 MB answers

    def _read_line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            self._recv()
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._recv()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _read_response(self) -> tuple[int, bytes, bool]:
        status_line = self._read_line()
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while line := self._read_line():
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = value.lower() == b"close"
        if chunked:
            parts = []
            while size := int(self._read_line().split(b";")[0], 16):
                parts.append(self._read_exactly(size))
                self._read_line()  # the CRLF after each chunk
            while self._read_line():
                pass  # trailers, up to the blank line
            return status, b"".join(parts), close
        if length is None:
            raise HTTPError("answer without Content-Length or chunked framing")
        return status, self._read_exactly(length), close
