// A loopback HTTP/1.1 server for tests: Glibc sockets, one background thread, scripted answers.
// Shared by the test targets that need a peer (HTTPTests, LambdaRuntimeTests).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct TestServerError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

public struct RecordedHeader: Sendable, Equatable {
    public var name: String
    public var value: String
}

/// One request as the server parsed it off the wire.
public struct RecordedRequest: Sendable {
    public var method: String
    /// The request target as sent: path plus query.
    public var path: String
    public var version: String
    public var headers: [RecordedHeader]
    public var body: [UInt8]
    /// 1-based index of the TCP connection (in accept order) the request arrived on.
    public var connection: Int

    /// The first value of `name`, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Every value of `name`, case-insensitively, in wire order.
    public func values(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// What the server does with one request.
public struct ScriptedResponse: Sendable {
    public var status: Int
    public var headers: [RecordedHeader]
    public var body: [UInt8]
    /// Seconds to wait before answering (or before closing, with `closeWithoutAnswering`).
    public var delay: Double = 0
    /// Close the TCP connection once the answer is written, without a `Connection: close` header.
    public var closeAfter: Bool = false
    /// Close the TCP connection instead of answering.
    public var closeWithoutAnswering: Bool = false
    /// Bytes sent verbatim instead of the status line, headers and body built from the fields above.
    public var raw: [UInt8]? = nil

    /// `Content-Length` is added unless `headers` has `Content-Length` or `Transfer-Encoding`.
    public init(
        status: Int = 200, headers: [(String, String)] = [], body: [UInt8] = [], delay: Double = 0,
        closeAfter: Bool = false, closeWithoutAnswering: Bool = false
    ) {
        self.status = status
        self.headers = headers.map { RecordedHeader(name: $0.0, value: $0.1) }
        self.body = body
        self.delay = delay
        self.closeAfter = closeAfter
        self.closeWithoutAnswering = closeWithoutAnswering
    }

    public init(status: Int = 200, headers: [(String, String)] = [], body: String, delay: Double = 0, closeAfter: Bool = false) {
        self.init(status: status, headers: headers, body: Array(body.utf8), delay: delay, closeAfter: closeAfter)
    }

    public static func raw(_ bytes: String, delay: Double = 0, closeAfter: Bool = false) -> ScriptedResponse {
        var response = ScriptedResponse(delay: delay, closeAfter: closeAfter)
        response.raw = Array(bytes.utf8)
        return response
    }

    public static func closeWithoutAnswering(delay: Double = 0) -> ScriptedResponse {
        ScriptedResponse(delay: delay, closeWithoutAnswering: true)
    }

    public func serialized() -> [UInt8] {
        if let raw { return raw }
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        for header in headers { head += "\(header.name): \(header.value)\r\n" }
        let framed = headers.contains {
            let name = $0.name.lowercased()
            return name == "content-length" || name == "transfer-encoding"
        }
        if !framed { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 410: "Gone"
        case 413: "Request Entity Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}

/// Listens on 127.0.0.1 (a free port), keeps connections alive, and answers each request with the
/// next scripted response (or the handler's answer). Every loop is bounded: `poll` with a short
/// timeout, a stop flag checked each turn, and a maximum lifetime after which the server stops itself.
public final class TestHTTPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (RecordedRequest) -> ScriptedResponse

    public let port: UInt16
    public var authority: String { "127.0.0.1:\(port)" }
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private let listener: Int32
    private let handler: Handler?
    private let maxLifetime: Double
    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)

    // Guarded by `lock`.
    private var script: [ScriptedResponse]
    private var _requests: [RecordedRequest] = []
    private var _accepted = 0
    private var _closed = 0
    private var _protocolErrors: [String] = []
    private var stopRequested = false
    private var joined = false

    /// Answers requests with `script` in order; once it runs out, with `handler`, or with a 500.
    public init(script: [ScriptedResponse] = [], maxLifetime: Double = 60, handler: Handler? = nil) throws {
        self.script = script
        self.handler = handler
        self.maxLifetime = maxLifetime

        let (fd, port) = try loopbackSocket(port: 0, backlog: 64)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        listener = fd
        self.port = port

        let thread = Thread { [self] in
            self.serve()
            self.finished.signal()
        }
        thread.name = "TestHTTPServer:\(port)"
        thread.start()
    }

    /// Stops accepting, closes every connection and waits (bounded) for the thread to end. Idempotent.
    public func stop() {
        lock.lock()
        stopRequested = true
        let alreadyJoined = joined
        joined = true
        lock.unlock()
        if !alreadyJoined { _ = finished.wait(timeout: .now() + 5) }
    }

    public var requests: [RecordedRequest] { lock.withLock { _requests } }
    /// TCP connections accepted so far.
    public var acceptedConnections: Int { lock.withLock { _accepted } }
    /// Connections closed so far, by either side.
    public var closedConnections: Int { lock.withLock { _closed } }
    /// Requests the server could not parse (each also closed its connection).
    public var protocolErrors: [String] { lock.withLock { _protocolErrors } }
    public var unusedScriptedResponses: Int { lock.withLock { script.count } }

    /// Polls `condition` every 5 ms for at most `timeout` seconds.
    @discardableResult
    public func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }

    // MARK: - Server thread

    private final class Connection {
        let fd: Int32
        let index: Int
        var input: [UInt8] = []
        var scannedUpTo = 0
        var head: (method: String, path: String, version: String, headers: [RecordedHeader], bodyStart: Int, bodyLength: Int)?
        var answering = false
        var output: [UInt8] = []
        var written = 0
        var dueAt: UInt64 = 0
        var closeAfter = false
        var closeWithoutAnswering = false
        var closed = false

        init(fd: Int32, index: Int) {
            self.fd = fd
            self.index = index
        }
    }

    private static func nowNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    private func serve() {
        let giveUpAt = Self.nowNanoseconds() + UInt64(maxLifetime * 1e9)
        var connections: [Connection] = []
        var readBuffer = [UInt8](repeating: 0, count: 256 * 1024)

        while true {
            let stopping = lock.withLock { stopRequested }
            if stopping || Self.nowNanoseconds() > giveUpAt { break }

            let now = Self.nowNanoseconds()
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            for connection in connections {
                var events = Int16(POLLIN)
                if connection.answering && connection.dueAt <= now && !connection.closeWithoutAnswering {
                    events |= Int16(POLLOUT)
                }
                fds.append(pollfd(fd: connection.fd, events: events, revents: 0))
            }
            _ = poll(&fds, nfds_t(fds.count), 10)

            if fds[0].revents & Int16(POLLIN) != 0 {
                while true {
                    let client = accept(listener, nil, nil)
                    if client < 0 { break }
                    _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                    var one: Int32 = 1
                    _ = setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    let index = lock.withLock {
                        _accepted += 1
                        return _accepted
                    }
                    connections.append(Connection(fd: client, index: index))
                }
            }

            for (offset, connection) in connections.enumerated() where !connection.closed {
                let revents = offset + 1 < fds.count ? fds[offset + 1].revents : 0
                if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    readAvailable(connection, into: &readBuffer)
                }
                if connection.closed { continue }
                processInput(connection)
                if connection.closed { continue }
                answerIfDue(connection)
            }
            connections.removeAll { $0.closed }
        }

        for connection in connections { closeConnection(connection) }
        close(listener)
    }

    private func readAvailable(_ connection: Connection, into buffer: inout [UInt8]) {
        // Bounded: at most 64 reads (16 MiB) per turn, so one fast sender cannot starve the loop.
        for _ in 0..<64 {
            let count = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.withUnsafeBytes { connection.input.append(contentsOf: $0.prefix(count)) }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if count < 0 && errno == EINTR { continue }
            // 0: the peer closed; < 0: the connection broke. Either way it is gone.
            closeConnection(connection)
            return
        }
    }

    private func processInput(_ connection: Connection) {
        while !connection.answering && !connection.closed {
            guard let request = parseRequest(connection) else { return }
            let scripted: ScriptedResponse? = lock.withLock {
                _requests.append(request)
                return script.isEmpty ? nil : script.removeFirst()
            }
            let response = scripted
                ?? handler?(request)
                ?? ScriptedResponse(status: 500, body: "test server: no scripted response left for \(request.method) \(request.path)")
            connection.answering = true
            connection.output = response.closeWithoutAnswering ? [] : response.serialized()
            connection.written = 0
            connection.dueAt = Self.nowNanoseconds() + UInt64(max(0, response.delay) * 1e9)
            connection.closeAfter = response.closeAfter
            connection.closeWithoutAnswering = response.closeWithoutAnswering
        }
    }

    private func parseRequest(_ connection: Connection) -> RecordedRequest? {
        if connection.head == nil {
            let input = connection.input
            var end: Int? = nil
            var index = max(0, connection.scannedUpTo - 3)
            while index + 3 < input.count {
                if input[index] == 13 && input[index + 1] == 10 && input[index + 2] == 13 && input[index + 3] == 10 {
                    end = index
                    break
                }
                index += 1
            }
            guard let end else {
                connection.scannedUpTo = input.count
                if input.count > 1 << 20 { protocolError(connection, "request head over 1 MiB") }
                return nil
            }
            let lines = String(decoding: input[0..<end], as: UTF8.self)
                .split(separator: "\r\n", omittingEmptySubsequences: false)
            let requestLine = lines[0].split(separator: " ", omittingEmptySubsequences: false)
            guard requestLine.count == 3 else {
                protocolError(connection, "bad request line \(lines[0])")
                return nil
            }
            var headers: [RecordedHeader] = []
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else {
                    protocolError(connection, "bad header line \(line)")
                    return nil
                }
                let value = line[line.index(after: colon)...].trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
                headers.append(RecordedHeader(name: String(line[..<colon]), value: value))
            }
            if headers.contains(where: { $0.name.lowercased() == "transfer-encoding" }) {
                protocolError(connection, "request bodies with Transfer-Encoding are not supported by the test server")
                return nil
            }
            var bodyLength = 0
            if let text = headers.first(where: { $0.name.lowercased() == "content-length" })?.value {
                guard let length = Int(text), length >= 0 else {
                    protocolError(connection, "bad Content-Length \(text)")
                    return nil
                }
                bodyLength = length
            }
            connection.head = (String(requestLine[0]), String(requestLine[1]), String(requestLine[2]), headers, end + 4, bodyLength)
        }
        guard let head = connection.head, connection.input.count - head.bodyStart >= head.bodyLength else { return nil }
        let body = Array(connection.input[head.bodyStart..<(head.bodyStart + head.bodyLength)])
        connection.input.removeFirst(head.bodyStart + head.bodyLength)
        connection.head = nil
        connection.scannedUpTo = 0
        return RecordedRequest(
            method: head.method, path: head.path, version: head.version, headers: head.headers, body: body,
            connection: connection.index)
    }

    private func answerIfDue(_ connection: Connection) {
        guard connection.answering, connection.dueAt <= Self.nowNanoseconds() else { return }
        if connection.closeWithoutAnswering {
            closeConnection(connection)
            return
        }
        while connection.written < connection.output.count {
            let sent = connection.output.withUnsafeBytes {
                send(connection.fd, $0.baseAddress! + connection.written, $0.count - connection.written, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                connection.written += sent
            } else if sent < 0 && errno == EINTR {
                continue
            } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return  // poll for POLLOUT and carry on next turn
            } else {
                closeConnection(connection)
                return
            }
        }
        connection.answering = false
        connection.output = []
        if connection.closeAfter {
            closeConnection(connection)
        } else {
            processInput(connection)  // a pipelined request may already be waiting
        }
    }

    private func protocolError(_ connection: Connection, _ message: String) {
        lock.withLock { _protocolErrors.append(message) }
        closeConnection(connection)
    }

    private func closeConnection(_ connection: Connection) {
        guard !connection.closed else { return }
        connection.closed = true
        close(connection.fd)
        lock.withLock { _closed += 1 }
    }
}

/// A TCP socket bound to 127.0.0.1:`port` (0: a free one), listening with `backlog` unless nil.
private func loopbackSocket(port requested: UInt16, backlog: Int32?) throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestServerError(description: "socket: errno \(errno)") }
    var one: Int32 = 1
    _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = requested.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok, backlog.map({ listen(fd, $0) == 0 }) ?? true else {
        let code = errno
        close(fd)
        throw TestServerError(description: "bind/listen: errno \(code)")
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// A TCP port on 127.0.0.1 that is bound but not listening: connecting to it is refused, and no
/// other process can take the port while this exists.
public final class RefusingPort {
    public let port: UInt16
    private let fd: Int32

    /// `port` 0 picks a free port; another port is taken over once its listener has gone
    /// (connections of its in TIME_WAIT do not stand in the way).
    public init(port requested: UInt16 = 0) throws {
        (fd, port) = try loopbackSocket(port: requested, backlog: nil)
    }

    deinit { close(fd) }
}

/// A TCP port on 127.0.0.1 that listens but never accepts: connections complete in the kernel
/// and then hear nothing, so a TLS handshake (or any answer) never comes.
public final class SilentPort {
    public let port: UInt16
    private let fd: Int32

    public init() throws {
        (fd, port) = try loopbackSocket(port: 0, backlog: 16)
    }

    deinit { close(fd) }
}
