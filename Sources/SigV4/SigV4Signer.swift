#if canImport(Glibc)
import Glibc
#endif

/// The instant a request is signed, in the two forms SigV4 uses.
public struct SigningTime: Sendable, Equatable {
    /// `YYYYMMDD'T'HHMMSS'Z'`, the `X-Amz-Date` value.
    public let amzDate: String
    /// `YYYYMMDD`, the date in the credential scope.
    public var dateStamp: Substring { amzDate.prefix(8) }

    public init(secondsSince1970: Int) {
        var seconds = time_t(secondsSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Written digit by digit: this runs for every signed request.
        amzDate = String(unsafeUninitializedCapacity: 16) { out in
            var position = 0
            func put(_ value: Int32, digits width: Int) {
                var value = Int(value)
                for digit in (0..<width).reversed() {
                    out[position + digit] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                position += width
            }
            func put(_ character: Unicode.Scalar) {
                out[position] = UInt8(ascii: character)
                position += 1
            }
            put(parts.tm_year + 1900, digits: 4)
            put(parts.tm_mon + 1, digits: 2)
            put(parts.tm_mday, digits: 2)
            put("T")
            put(parts.tm_hour, digits: 2)
            put(parts.tm_min, digits: 2)
            put(parts.tm_sec, digits: 2)
            put("Z")
            return position
        }
    }

    public static func now() -> SigningTime {
        SigningTime(secondsSince1970: Int(time(nil)))
    }
}

/// AWS Signature Version 4 for header-signed requests, one function per stage of the algorithm
/// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
///
/// The derived signing key depends only on the date, so it is computed once a day, not once a request.
public final class SigV4Signer {
    public typealias Header = (name: String, value: String)

    public let credentials: AWSCredentials
    public let region: String
    public let service: String
    /// RFC 3986 path normalisation: every service but S3.
    public let normalizesPath: Bool

    /// What depends only on the day (the derived key and the credential scope): once a day.
    private var cachedDay: (dateStamp: Substring, key: [UInt8], scope: String)?
    private var cachedCanonicalURI: (path: String, canonical: String)?

    public init(credentials: AWSCredentials, region: String, service: String, normalizesPath: Bool = true) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.normalizesPath = normalizesPath
    }

    public struct Options: Sendable {
        /// Adds and signs `X-Amz-Content-Sha256` (S3 and a few others want it; SageMaker does not).
        public var addsContentSHA256Header = false
        /// `false` adds the token after signing, for the few services that want it unsigned.
        public var signsSessionToken = true

        public init(addsContentSHA256Header: Bool = false, signsSessionToken: Bool = true) {
            self.addsContentSHA256Header = addsContentSHA256Header
            self.signsSessionToken = signsSessionToken
        }
    }

    /// The headers to add to a request so AWS accepts it: `X-Amz-Date`, `X-Amz-Security-Token` when
    /// the credentials have a token, optionally `X-Amz-Content-Sha256`, and `Authorization`.
    ///
    /// `path` is the path as sent on the wire and `query` the raw query string without `?`.
    /// `headers` must include `Host`.
    public func signatureHeaders(
        method: String,
        path: String,
        query: String = "",
        headers: [Header],
        payloadHash: String,
        time: SigningTime,
        options: Options = .init()
    ) -> [Header] {
        var added: [Header] = [("X-Amz-Date", time.amzDate)]
        if options.addsContentSHA256Header {
            added.append(("X-Amz-Content-Sha256", payloadHash))
        }
        if let token = credentials.sessionToken, options.signsSessionToken {
            added.append(("X-Amz-Security-Token", token))
        }
        var canonical: [UInt8] = []
        canonical.reserveCapacity(1024)
        let signedHeaders = appendCanonicalRequest(
            method: method, path: path, query: query, headers: headers + added, payloadHash: payloadHash, to: &canonical)
        let signature = signature(stringToSign: stringToSignBytes(canonicalRequest: canonical, time: time), dateStamp: time.dateStamp)
        added.append(("Authorization", authorization(signedHeaders: signedHeaders, signature: signature, time: time)))
        if let token = credentials.sessionToken, !options.signsSessionToken {
            added.append(("X-Amz-Security-Token", token))
        }
        return added
    }

    // MARK: Stages
    //
    // Each stage also exists on bytes: a request is signed without building the intermediate
    // strings, which cost more than the hashing itself.

    /// Stage 1: the canonical request and the `SignedHeaders` list it covers.
    public func canonicalRequest(
        method: String, path: String, query: String, headers: [Header], payloadHash: String
    ) -> (canonicalRequest: String, signedHeaders: String) {
        var canonical: [UInt8] = []
        let signedHeaders = appendCanonicalRequest(
            method: method, path: path, query: query, headers: headers, payloadHash: payloadHash, to: &canonical)
        return (String(decoding: canonical, as: UTF8.self), signedHeaders)
    }

    private func appendCanonicalRequest(
        method: String, path: String, query: String, headers: [Header], payloadHash: String, to out: inout [UInt8]
    ) -> String {
        let newline = UInt8(ascii: "\n")
        out.append(contentsOf: method.uppercased().utf8)
        out.append(newline)
        out.append(contentsOf: canonicalURI(path).utf8)
        out.append(newline)
        out.append(contentsOf: Self.canonicalQuery(query).utf8)
        out.append(newline)
        let signedHeaders = Self.appendCanonicalHeaders(headers, to: &out)
        out.append(newline)
        out.append(contentsOf: signedHeaders.utf8)
        out.append(newline)
        out.append(contentsOf: payloadHash.utf8)
        return signedHeaders
    }

    /// Stage 2: what the signing key signs.
    public func stringToSign(canonicalRequest: String, time: SigningTime) -> String {
        String(decoding: stringToSignBytes(canonicalRequest: Array(canonicalRequest.utf8), time: time), as: UTF8.self)
    }

    private func stringToSignBytes(canonicalRequest: [UInt8], time: SigningTime) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out.append(contentsOf: "AWS4-HMAC-SHA256\n".utf8)
        out.append(contentsOf: time.amzDate.utf8)
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: scope(dateStamp: time.dateStamp).utf8)
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: Digest.hex(Digest.sha256(canonicalRequest)).utf8)
        return out
    }

    /// Stage 3: the key derived from the secret for one day, region and service.
    public func signingKey(dateStamp: Substring) -> [UInt8] {
        day(dateStamp).key
    }

    /// Stage 4: the hex signature.
    public func signature(stringToSign: String, dateStamp: Substring) -> String {
        signature(stringToSign: Array(stringToSign.utf8), dateStamp: dateStamp)
    }

    private func signature(stringToSign: [UInt8], dateStamp: Substring) -> String {
        let key = signingKey(dateStamp: dateStamp)
        return Digest.hex(stringToSign.withUnsafeBufferPointer { Digest.hmacSHA256(key: key, bytes: $0) })
    }

    public func authorization(signedHeaders: String, signature: String, time: SigningTime) -> String {
        "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope(dateStamp: time.dateStamp)), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    private func scope(dateStamp: Substring) -> String {
        day(dateStamp).scope
    }

    private func day(_ dateStamp: Substring) -> (key: [UInt8], scope: String) {
        if let cached = cachedDay, cached.dateStamp == dateStamp { return (cached.key, cached.scope) }
        let dateKey = Digest.hmacSHA256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), data: dateStamp)
        let regionKey = Digest.hmacSHA256(key: dateKey, data: region)
        let serviceKey = Digest.hmacSHA256(key: regionKey, data: service)
        let key = Digest.hmacSHA256(key: serviceKey, data: "aws4_request")
        let scope = "\(dateStamp)/\(region)/\(service)/aws4_request"
        cachedDay = (dateStamp, key, scope)
        return (key, scope)
    }

    /// A client signs the same path again and again: its canonical form is kept.
    private func canonicalURI(_ path: String) -> String {
        if let cached = cachedCanonicalURI, cached.path == path { return cached.canonical }
        let canonical = Self.canonicalURI(path, normalize: normalizesPath)
        cachedCanonicalURI = (path, canonical)
        return canonical
    }

    // MARK: Canonical forms

    /// Each path segment URI-encoded; with `normalize`, dot segments resolved and empty segments dropped.
    static func canonicalURI(_ path: String, normalize: Bool) -> String {
        guard !path.isEmpty else { return "/" }
        // Without dots or empty segments an absolute path is already normal (InvokeEndpoint's are).
        let utf8 = path.utf8
        let slash = UInt8(ascii: "/")
        let alreadyNormal = utf8.first == slash && !utf8.contains(UInt8(ascii: "."))
            && !zip(utf8, utf8.dropFirst()).contains { $0 == slash && $1 == slash }
        guard normalize && !alreadyNormal else { return percentEncode(path, keepingSlash: true) }

        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(segment)
            }
        }
        let lastSegment = path.split(separator: "/", omittingEmptySubsequences: false).last
        let endsWithDirectory = path.hasSuffix("/") || lastSegment == "." || lastSegment == ".."
        var normalized = "/" + segments.joined(separator: "/")
        if endsWithDirectory && !segments.isEmpty { normalized += "/" }
        return percentEncode(normalized, keepingSlash: true)
    }

    /// Parameters decoded, re-encoded the AWS way and sorted by name, then value.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs: [(String, String)] = query.split(separator: "&").map { parameter in
            let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentEncode(percentDecode(parts[0]), keepingSlash: false)
            let value = parts.count > 1 ? percentEncode(percentDecode(parts[1]), keepingSlash: false) : ""
            return (name, value)
        }
        return pairs
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Appends the canonical header lines (each ending in a newline) and returns `SignedHeaders`:
    /// names lower-cased and sorted; values trimmed with inner whitespace runs collapsed; repeated
    /// names joined with commas in the order given. Names are compared and written lower-cased
    /// on their bytes, never copied into new strings.
    private static func appendCanonicalHeaders(_ headers: [Header], to out: inout [UInt8]) -> String {
        // Sorting indices with ties broken by position keeps repeated names in the order given.
        let order = headers.indices.sorted { a, b in
            let order = compareIgnoringASCIICase(headers[a].name, headers[b].name)
            return order == 0 ? a < b : order < 0
        }
        var signed: [UInt8] = []
        signed.reserveCapacity(order.count * 24)
        var previous: Int?
        for index in order {
            let name = headers[index].name
            if let previous, compareIgnoringASCIICase(headers[previous].name, name) == 0 {
                out[out.count - 1] = UInt8(ascii: ",")  // the previous value's newline: this value joins it
            } else {
                if previous != nil { signed.append(UInt8(ascii: ";")) }
                appendLowercased(name, to: &signed)
                appendLowercased(name, to: &out)
                out.append(UInt8(ascii: ":"))
            }
            appendCollapsingWhitespace(headers[index].value, to: &out)
            out.append(UInt8(ascii: "\n"))
            previous = index
        }
        return String(decoding: signed, as: UTF8.self)
    }

    /// Trimmed, with runs of spaces, tabs, CR and LF made one space. A value that needs no change
    /// (all of ours, session tokens of a kilobyte included) is copied whole.
    private static func appendCollapsingWhitespace(_ value: String, to out: inout [UInt8]) {
        func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        withBytes(value) { bytes in
            var previousWasSpace = true  // so a leading space counts as a change
            var needsChange = false
            for byte in bytes {
                if isWhitespace(byte) {
                    if previousWasSpace || byte != 0x20 { needsChange = true; break }
                    previousWasSpace = true
                } else {
                    previousWasSpace = false
                }
            }
            if !needsChange && !(previousWasSpace && !bytes.isEmpty) {
                out.append(contentsOf: bytes)
                return
            }
            var pendingSpace = false
            var wroteAny = false
            for byte in bytes {
                if isWhitespace(byte) {
                    pendingSpace = wroteAny
                } else {
                    if pendingSpace { out.append(0x20) }
                    pendingSpace = false
                    wroteAny = true
                    out.append(byte)
                }
            }
        }
    }

    private static func appendLowercased(_ text: String, to out: inout [UInt8]) {
        let start = out.count
        withBytes(text) { out.append(contentsOf: $0) }
        out.withUnsafeMutableBufferPointer { bytes in
            for index in start..<bytes.count { bytes[index] = asciiLowercased(bytes[index]) }
        }
    }

    /// Negative, zero or positive as `x` sorts before, with or after `y`, ASCII letters compared lower-cased.
    private static func compareIgnoringASCIICase(_ x: String, _ y: String) -> Int {
        withBytes(x) { a in
            withBytes(y) { b in
                for index in 0..<min(a.count, b.count) {
                    let (p, q) = (asciiLowercased(a[index]), asciiLowercased(b[index]))
                    if p != q { return p < q ? -1 : 1 }
                }
                return a.count - b.count
            }
        }
    }

    private static func withBytes<Result>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(text.utf8).withUnsafeBufferPointer(body)
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// RFC 3986 encoding as SigV4 defines it: only `A-Z a-z 0-9 - _ . ~` stay as they are.
    static func percentEncode(_ text: some StringProtocol, keepingSlash: Bool) -> String {
        func isKept(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                 UInt8(ascii: "."), UInt8(ascii: "~"):
                true
            case UInt8(ascii: "/"):
                keepingSlash
            default:
                false
            }
        }
        // InvokeEndpoint paths (endpoint names are [a-zA-Z0-9-]) need no encoding at all.
        if text.utf8.allSatisfy(isKept) { return String(text) }
        func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10 }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3)
        for byte in text.utf8 {
            if isKept(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0x0f))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func percentDecode(_ text: some StringProtocol) -> String {
        var out: [UInt8] = []
        var bytes = text.utf8.makeIterator()
        func hexValue(_ byte: UInt8?) -> UInt8? {
            switch byte {
            case .some(let b) where b >= 48 && b <= 57: b - 48
            case .some(let b) where b >= 65 && b <= 70: b - 55
            case .some(let b) where b >= 97 && b <= 102: b - 87
            default: nil
            }
        }
        while let byte = bytes.next() {
            guard byte == UInt8(ascii: "%") else { out.append(byte); continue }
            let high = bytes.next(), low = bytes.next()
            if let h = hexValue(high), let l = hexValue(low) {
                out.append(h << 4 | l)
            } else {
                out.append(byte)
                if let high { out.append(high) }
                if let low { out.append(low) }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
