import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// HTTP/1.1 without TLS over one kept-alive TCP connection: the transport of the Lambda Runtime
/// API, a trusted peer on the same host.
///
/// Why not `CurlHTTPClient`: `/next` and `/response` need none of what libcurl offers (TLS,
/// proxies, redirects, name lookups); here a request is one `sendmsg` and a `recv` or two, with a
/// `poll` first only when the request has a deadline (bench/IMPROVEMENTS.md has the figures).
///
/// What it does handle: `Content-Length`, chunked and close-delimited bodies, `Connection:
/// close`, interim 1xx answers, and a connection the server dropped while the process was frozen
/// (re-opened, and the request sent again, when it failed before any byte of an answer arrived).
///
/// Not thread-safe: it belongs to the one worker whose loop uses it.
public final class PlainHTTPConnection {
    /// Refuses a body larger than this instead of trying to allocate it. Lambda events are at most
    /// 6 MB; the margin is for whatever the Runtime API grows into.
    public static let largestBody = 64 * 1024 * 1024
    private static let largestHead = 64 * 1024
    private static let connectTimeoutMilliseconds = 3_000

    private let host: String
    private let port: String
    private let hostHeader: String
    private var socket: Int32 = -1
    /// Received bytes not consumed yet.
    private var buffer: [UInt8] = []
    private let scratch: UnsafeMutableRawBufferPointer
    /// Whether any byte of the current answer arrived: until one has, a failure on a reused
    /// connection means the server had closed it, and the request can be sent again.
    private var answerStarted = false

    /// `authority` is `host:port` (`[v6]:port` for IPv6), as in `AWS_LAMBDA_RUNTIME_API`.
    public init(authority: String) throws(HTTPClientError) {
        guard let (host, port) = Self.split(authority) else { throw .invalidURL(authority) }
        self.host = host
        self.port = port
        hostHeader = authority
        // Allocated last: an init that throws never reaches `deinit`, which frees it.
        scratch = .allocate(byteCount: 64 * 1024, alignment: 1)
    }

    deinit {
        closeSocket()
        scratch.deallocate()
    }

    /// Sends one request and reads the whole answer. `timeoutMilliseconds` bounds the whole
    /// exchange; `nil` waits as long as it takes (the Runtime API's long poll).
    public func send(
        method: HTTPMethod, path: String, headers: [HTTPHeader] = [], body: [UInt8] = [], timeoutMilliseconds: Int?
    ) throws(HTTPClientError) -> HTTPResponse {
        if let unsafe = headers.first(where: { !$0.isSafeToSend }) { throw .invalidHeader(name: unsafe.name) }
        let deadline = timeoutMilliseconds.map { MonotonicClock.nowMilliseconds() + $0 }
        let head = requestHead(method: method, path: path, headers: headers, bodyLength: body.count)
        // Bytes left over from an earlier answer mean the framing went wrong: start afresh.
        if !buffer.isEmpty { closeSocket() }
        var reused = socket >= 0
        while true {
            if socket < 0 { try connect(deadline: deadline) }
            answerStarted = false
            do {
                try write(head, body, deadline: deadline)
                return try readResponse(deadline: deadline)
            } catch {
                closeSocket()
                guard reused, !answerStarted, error.isConnectionFailure else { throw error }
                reused = false
            }
        }
    }

    /// Closes the connection, if open: the next request connects afresh.
    public func disconnect() {
        closeSocket()
    }

    // MARK: Connection

    private func connect(deadline: Int?) throws(HTTPClientError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, port, &hints, &list)
        guard resolved == 0 else {
            throw .couldNotConnect("cannot resolve \(host): \(String(cString: gai_strerror(resolved)))")
        }
        defer { freeaddrinfo(list) }

        let connectDeadline = min(deadline ?? .max, MonotonicClock.nowMilliseconds() + Self.connectTimeoutMilliseconds)
        var failure = "no address"
        var entry = list
        while let info = entry?.pointee {
            entry = info.ai_next
            let fd = Glibc.socket(info.ai_family, info.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), info.ai_protocol)
            guard fd >= 0 else { failure = Self.errnoText(); continue }
            let connected: Bool
            if Glibc.connect(fd, info.ai_addr, info.ai_addrlen) == 0 {
                connected = true
            } else if errno == EINPROGRESS {
                connected = Self.finishConnect(fd, deadline: connectDeadline, failure: &failure)
            } else {
                failure = Self.errnoText()
                connected = false
            }
            guard connected else { close(fd); continue }
            // Blocking from here on: a `recv` without a deadline then waits by itself, with no
            // `poll` first. Calls that have a deadline poll and pass MSG_DONTWAIT instead.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            socket = fd
            buffer.removeAll(keepingCapacity: true)
            return
        }
        throw .couldNotConnect("\(hostHeader): \(failure)")
    }

    private static func finishConnect(_ fd: Int32, deadline: Int, failure: inout String) -> Bool {
        guard wait(fd, for: Int16(POLLOUT), deadline: deadline) else {
            failure = "connect timed out"
            return false
        }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 else {
            failure = String(cString: strerror(error))
            return false
        }
        return true
    }

    private func closeSocket() {
        if socket >= 0 { close(socket) }
        socket = -1
        buffer.removeAll(keepingCapacity: true)
    }

    // MARK: Request

    /// Written straight into bytes: one allocation, not a string per line.
    private func requestHead(method: HTTPMethod, path: String, headers: [HTTPHeader], bodyLength: Int) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(256 + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        func line(_ parts: String...) {
            for part in parts { head.append(contentsOf: part.utf8) }
            head.append(contentsOf: [0x0D, 0x0A])
        }
        line(method.rawValue, " ", path, " HTTP/1.1")
        line("Host: ", hostHeader)
        for header in headers { line(header.name, ": ", header.value) }
        if method == .post { line("Content-Length: ", String(bodyLength)) }
        head.append(contentsOf: [0x0D, 0x0A])
        return head
    }

    /// Head and body in one `sendmsg` where the socket takes them: no copy of the body.
    private func write(_ head: [UInt8], _ body: [UInt8], deadline: Int?) throws(HTTPClientError) {
        let failure: HTTPClientError? = head.withUnsafeBytes { head in
            body.withUnsafeBytes { body in
                var sent = 0
                let total = head.count + body.count
                while sent < total {
                    let headPart = sent < head.count ? UnsafeRawBufferPointer(rebasing: head[sent...]) : UnsafeRawBufferPointer(start: nil, count: 0)
                    let bodyPart = UnsafeRawBufferPointer(rebasing: body[max(0, sent - head.count)...])
                    var vectors = [
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: headPart.baseAddress), iov_len: headPart.count),
                        iovec(iov_base: UnsafeMutableRawPointer(mutating: bodyPart.baseAddress), iov_len: bodyPart.count),
                    ]
                    let count = vectors.withUnsafeMutableBufferPointer { vectors -> Int in
                        var message = msghdr()
                        message.msg_iov = vectors.baseAddress
                        message.msg_iovlen = vectors.count
                        return sendmsg(socket, &message, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                    }
                    if count >= 0 {
                        sent += count
                    } else if errno == EAGAIN || errno == EWOULDBLOCK {
                        guard Self.wait(socket, for: Int16(POLLOUT), deadline: deadline) else {
                            return .timedOut("the peer took no more of the request within the time allowed")
                        }
                    } else if errno != EINTR {
                        return .sendFailed(Self.errnoText())
                    }
                }
                return nil
            }
        }
        if let failure { throw failure }
    }

    // MARK: Response

    private func readResponse(deadline: Int?) throws(HTTPClientError) -> HTTPResponse {
        while true {
            let headLength = try readHead(deadline: deadline)
            let head = try HTTPResponseHead(parsing: buffer[..<(headLength - 4)])
            buffer.removeFirst(headLength)
            // 100 Continue and friends come before the real answer.
            if head.status < 200 { continue }

            let body: [UInt8]
            if head.status == 204 || head.status == 304 {
                body = []
            } else if head.isChunked {
                body = try readChunkedBody(deadline: deadline)
            } else if let length = head.contentLength {
                body = try readBody(length: length, deadline: deadline)
            } else {
                body = try readBodyUntilClosed(deadline: deadline)
            }
            if head.closesConnection || head.contentLength == nil && !head.isChunked {
                closeSocket()
            }
            return HTTPResponse(status: head.status, headers: head.headers, body: body)
        }
    }

    /// Reads until the blank line that ends the head; returns the head's length including it.
    private func readHead(deadline: Int?) throws(HTTPClientError) -> Int {
        var searchedUpTo = 0
        while true {
            let end: Int? = buffer.withUnsafeBufferPointer { bytes in
                var index = max(0, searchedUpTo - 3)
                while index + 3 < bytes.count {
                    if bytes[index + 3] == 0x0A, bytes[index + 2] == 0x0D, bytes[index + 1] == 0x0A, bytes[index] == 0x0D {
                        return index + 4
                    }
                    index += 1
                }
                return nil
            }
            if let end { return end }
            searchedUpTo = buffer.count
            guard buffer.count <= Self.largestHead else { throw .receiveFailed("response head over \(Self.largestHead) bytes") }
            guard try fill(deadline: deadline) > 0 else {
                throw .receiveFailed(buffer.isEmpty ? "the server closed the connection without answering" : "the server closed the connection in the middle of the response head")
            }
        }
    }

    private func readBody(length: Int, deadline: Int?) throws(HTTPClientError) -> [UInt8] {
        guard length <= Self.largestBody else { throw .receiveFailed("response body of \(length) bytes is over the \(Self.largestBody)-byte limit") }
        // No storage for no body: an array of capacity 0 is the one empty array all threads share,
        // and setting its count from several workers at once is a data race.
        guard length > 0 else { return [] }
        // Storage of exactly `length` bytes, left uninitialised: the body is written into it once,
        // with no zero-filling first.
        var failure: HTTPClientError?
        let body = [UInt8](unsafeUninitializedCapacity: length) { storage, initialized in
            do throws(HTTPClientError) {
                try receiveBody(into: UnsafeMutableRawBufferPointer(storage), deadline: deadline)
                initialized = length
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return body
    }

    private func readChunkedBody(deadline: Int?) throws(HTTPClientError) -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine(deadline: deadline)
            let digits = sizeLine.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != 0x20 && $0 != 0x09 }
            guard !digits.isEmpty, digits.count <= 8, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16), size >= 0 else {
                throw .receiveFailed("malformed chunk size")
            }
            if size == 0 {
                while try !readLine(deadline: deadline).isEmpty {}  // trailer fields, unused
                return body
            }
            guard body.count + size <= Self.largestBody else { throw .receiveFailed("chunked response body over the \(Self.largestBody)-byte limit") }
            // An array cannot grow by uninitialised bytes: the chunk's room is zeroed, then
            // received into. (Growing by appending keeps the doubling: many small chunks do not
            // reallocate the body each time.)
            let start = body.count
            body.append(contentsOf: repeatElement(0, count: size))
            var failure: HTTPClientError?
            body.withUnsafeMutableBytes { bytes in
                do throws(HTTPClientError) {
                    try receiveBody(into: UnsafeMutableRawBufferPointer(rebasing: bytes[start...]), deadline: deadline)
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            guard try readLine(deadline: deadline).isEmpty else { throw .receiveFailed("malformed chunk") }
        }
    }

    /// Fills `destination` with the next bytes of the body: first what is buffered, then the rest
    /// straight from the socket into it, so a large body is copied once, not twice.
    private func receiveBody(into destination: UnsafeMutableRawBufferPointer, deadline: Int?) throws(HTTPClientError) {
        let buffered = min(buffer.count, destination.count)
        if buffered > 0 {
            buffer.withUnsafeBytes { destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<buffered])) }
            buffer.removeFirst(buffered)
        }
        var filled = buffered
        while filled < destination.count {
            let received = try receive(into: destination.baseAddress! + filled, count: destination.count - filled, deadline: deadline)
            if received > 0 {
                filled += received
            } else if received == 0 {
                throw .receiveFailed("the server closed the connection \(destination.count - filled) bytes before the end of the body")
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                throw .receiveFailed(Self.errnoText())
            }
        }
    }

    private func readBodyUntilClosed(deadline: Int?) throws(HTTPClientError) -> [UInt8] {
        while try fill(deadline: deadline) > 0 {
            guard buffer.count <= Self.largestBody else { throw .receiveFailed("response body over the \(Self.largestBody)-byte limit") }
        }
        // The buffer is the body: handed over, not copied. The connection is closed after this
        // answer, so nothing is lost with its capacity.
        defer { buffer = [] }
        return buffer
    }

    /// One line (without its CRLF) from the buffer, for chunk sizes and trailers.
    private func readLine(deadline: Int?) throws(HTTPClientError) -> [UInt8] {
        var searchedUpTo = 0
        while true {
            if let newline = buffer[searchedUpTo...].firstIndex(of: 0x0A) {
                var line = Array(buffer[..<newline])
                if line.last == 0x0D { line.removeLast() }
                buffer.removeFirst(newline + 1)
                return line
            }
            searchedUpTo = buffer.count
            guard buffer.count <= 4096 else { throw .receiveFailed("chunk header line over 4096 bytes") }
            guard try fill(deadline: deadline) > 0 else { throw .receiveFailed("the server closed the connection in a chunked body") }
        }
    }

    /// Appends what the socket has (waiting for something if need be); 0 means the peer closed.
    private func fill(deadline: Int?) throws(HTTPClientError) -> Int {
        while true {
            let count = try receive(into: scratch.baseAddress!, count: scratch.count, deadline: deadline)
            if count >= 0 {
                if count > 0 { answerStarted = true }
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<count]))
                return count
            }
            if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                throw .receiveFailed(Self.errnoText())
            }
        }
    }

    /// One `recv`: what it returns, errno set when negative. Without a deadline the blocking
    /// `recv` is the wait, no `poll` first: this is the Runtime API's `/next`, on the critical
    /// path of every invocation.
    private func receive(into pointer: UnsafeMutableRawPointer, count: Int, deadline: Int?) throws(HTTPClientError) -> Int {
        guard deadline != nil else { return recv(socket, pointer, count, 0) }
        guard Self.wait(socket, for: Int16(POLLIN), deadline: deadline) else { throw Self.timeout }
        return recv(socket, pointer, count, Int32(MSG_DONTWAIT))
    }

    // MARK: Helpers

    private static let timeout = HTTPClientError.timedOut("no complete answer within the time allowed")

    /// `false` when the deadline passed first. `nil` deadline: wait as long as it takes.
    private static func wait(_ fd: Int32, for events: Int16, deadline: Int?) -> Bool {
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let left = deadline - MonotonicClock.nowMilliseconds()
                guard left > 0 else { return false }
                timeout = Int32(clamping: left)
            }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, timeout)
            if ready > 0 { return true }  // readable, writable, or an error the next call reports
            if ready < 0 && errno != EINTR { return true }
        }
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }

    /// `host:port` or `[v6]:port`.
    static func split(_ authority: String) -> (host: String, port: String)? {
        let host: Substring
        let rest: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            rest = authority[authority.index(after: close)...]
        } else {
            let colon = authority.lastIndex(of: ":") ?? authority.endIndex
            host = authority[..<colon]
            rest = authority[colon...]
        }
        guard !host.isEmpty, rest.first == ":" else { return nil }
        let port = rest.dropFirst()
        guard !port.isEmpty, port.utf8.count <= 5, port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(port), number > 0, number < 65536 else {
            return nil
        }
        return (String(host), String(port))
    }
}
