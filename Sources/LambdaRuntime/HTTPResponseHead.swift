import HTTP

/// The status line and header fields of an HTTP/1.1 response, and what they say about framing
/// (RFC 9112 §6): how long the body is and whether the connection stays open afterwards.
struct HTTPResponseHead: Equatable {
    var status: Int
    var headers: [HTTPHeader]
    var contentLength: Int?
    var isChunked: Bool
    var closesConnection: Bool
    private var saidClose = false

    /// `bytes` is the head without the blank line that ends it. Lines end in CRLF; a bare LF is
    /// accepted as RFC 9112 allows.
    init(parsing bytes: ArraySlice<UInt8>) throws(HTTPClientError) {
        var lines = Lines(bytes)
        guard let statusLine = lines.next(), let parsed = Self.statusLine(statusLine) else {
            throw .receiveFailed("malformed status line")
        }
        status = parsed.status
        headers = []
        headers.reserveCapacity(12)
        contentLength = nil
        isChunked = false
        closesConnection = !parsed.isHTTP11

        while let line = lines.next() {
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[..<colon].allSatisfy(Self.isTokenByte) else {
                throw .receiveFailed("malformed header line")
            }
            let header = HTTPHeader(
                name: String(decoding: line[..<colon], as: UTF8.self),
                value: String(decoding: Self.trimmed(line[(colon + 1)...]), as: UTF8.self))
            try apply(header)
            headers.append(header)
        }
        // With both, Transfer-Encoding wins, and the message may have been smuggled: do not reuse.
        if isChunked && contentLength != nil {
            contentLength = nil
            closesConnection = true
        }
    }

    private mutating func apply(_ header: HTTPHeader) throws(HTTPClientError) {
        if header.name.caseInsensitiveEquals("Content-Length") {
            guard let length = Self.decimal(header.value.utf8), contentLength == nil || contentLength == length else {
                throw .receiveFailed("invalid Content-Length \(header.value.prefix(40))")
            }
            contentLength = length
        } else if header.name.caseInsensitiveEquals("Transfer-Encoding") {
            let last = header.value.split(separator: ",").last.map { $0.trimmingHTTPWhitespace().lowercased() }
            guard last == "chunked" else { throw .receiveFailed("unsupported Transfer-Encoding \(header.value.prefix(40))") }
            isChunked = true
        } else if header.name.caseInsensitiveEquals("Connection") {
            let options = header.value.split(separator: ",").map { $0.trimmingHTTPWhitespace().lowercased() }
            // `close` wins over anything else; `keep-alive` only matters to an HTTP/1.0 answer.
            if options.contains("close") { closesConnection = true; saidClose = true }
            if options.contains("keep-alive") && !saidClose { closesConnection = false }
        }
    }

    /// `HTTP/1.x SSS[ reason]`.
    private static func statusLine(_ line: ArraySlice<UInt8>) -> (status: Int, isHTTP11: Bool)? {
        let start = line.startIndex
        guard line.count >= 12, line.starts(with: "HTTP/1.".utf8), line[start + 8] == 0x20,
              line[start + 7] == UInt8(ascii: "0") || line[start + 7] == UInt8(ascii: "1"),
              line.count == 12 || line[start + 12] == 0x20,
              let status = decimal(line[(start + 9)..<(start + 12)]), status >= 100 else {
            return nil
        }
        return (status, line[start + 7] == UInt8(ascii: "1"))
    }

    /// Digits only (no sign, no spaces), small enough for any body we would accept.
    private static func decimal(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= 0x30 && digit <= 0x39 else { return nil }
            value = value * 10 + Int(digit - 0x30)
        }
        return value
    }

    /// The lines of a head, without their CRLF (or bare LF, which RFC 9112 allows).
    private struct Lines {
        var rest: ArraySlice<UInt8>

        init(_ bytes: ArraySlice<UInt8>) { rest = bytes }

        mutating func next() -> ArraySlice<UInt8>? {
            guard !rest.isEmpty else { return nil }
            let end = rest.firstIndex(of: UInt8(ascii: "\n")) ?? rest.endIndex
            let line = HTTPResponseHead.droppingCR(rest[..<end])
            rest = end < rest.endIndex ? rest[(end + 1)...] : rest[rest.endIndex...]
            return line
        }
    }

    private static func droppingCR(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        line.last == 0x0D ? line.dropLast() : line
    }

    private static func trimmed(_ value: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var value = value
        while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
        while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
        return value
    }

    /// RFC 9110 token characters: what a field name may be made of.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
