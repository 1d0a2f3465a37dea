#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
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
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        amzDate = pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
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

    private var cachedSigningKey: (dateStamp: Substring, key: [UInt8])?

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
        let (canonical, signedHeaders) = canonicalRequest(
            method: method, path: path, query: query, headers: headers + added, payloadHash: payloadHash)
        let toSign = stringToSign(canonicalRequest: canonical, time: time)
        let signature = signature(stringToSign: toSign, dateStamp: time.dateStamp)
        added.append(("Authorization", authorization(signedHeaders: signedHeaders, signature: signature, time: time)))
        if let token = credentials.sessionToken, !options.signsSessionToken {
            added.append(("X-Amz-Security-Token", token))
        }
        return added
    }

    // MARK: Stages

    /// Stage 1: the canonical request and the `SignedHeaders` list it covers.
    public func canonicalRequest(
        method: String, path: String, query: String, headers: [Header], payloadHash: String
    ) -> (canonicalRequest: String, signedHeaders: String) {
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let canonical = [
            method.uppercased(),
            Self.canonicalURI(path, normalize: normalizesPath),
            Self.canonicalQuery(query),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        return (canonical, signedHeaders)
    }

    /// Stage 2: what the signing key signs.
    public func stringToSign(canonicalRequest: String, time: SigningTime) -> String {
        let hash = Digest.hex(Digest.sha256(Array(canonicalRequest.utf8)))
        return "AWS4-HMAC-SHA256\n\(time.amzDate)\n\(scope(dateStamp: time.dateStamp))\n\(hash)"
    }

    /// Stage 3: the key derived from the secret for one day, region and service.
    public func signingKey(dateStamp: Substring) -> [UInt8] {
        if let cached = cachedSigningKey, cached.dateStamp == dateStamp { return cached.key }
        let dateKey = Digest.hmacSHA256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), data: dateStamp)
        let regionKey = Digest.hmacSHA256(key: dateKey, data: region)
        let serviceKey = Digest.hmacSHA256(key: regionKey, data: service)
        let key = Digest.hmacSHA256(key: serviceKey, data: "aws4_request")
        cachedSigningKey = (dateStamp, key)
        return key
    }

    /// Stage 4: the hex signature.
    public func signature(stringToSign: String, dateStamp: Substring) -> String {
        Digest.hex(Digest.hmacSHA256(key: signingKey(dateStamp: dateStamp), data: stringToSign))
    }

    public func authorization(signedHeaders: String, signature: String, time: SigningTime) -> String {
        "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope(dateStamp: time.dateStamp)), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    private func scope(dateStamp: Substring) -> String {
        "\(dateStamp)/\(region)/\(service)/aws4_request"
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

    /// Names lower-cased and sorted; values trimmed with inner whitespace runs collapsed;
    /// repeated names joined with commas in the order given.
    static func canonicalHeaders(_ headers: [Header]) -> (canonical: String, signed: String) {
        let names = headers.map { $0.name.lowercased() }
        // Sorting indices with ties broken by position keeps repeated names in the order given.
        let order = names.indices.sorted { a, b in
            let (x, y) = (names[a].utf8, names[b].utf8)
            return x.elementsEqual(y) ? a < b : x.lexicographicallyPrecedes(y)
        }
        var canonical = ""
        var signed = ""
        canonical.reserveCapacity(headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 2 })
        var previous: String?
        for index in order {
            let name = names[index]
            if name == previous {
                canonical.removeLast()  // the previous value's "\n": this value joins it
                canonical += ","
            } else {
                if previous != nil { signed += ";" }
                signed += name
                canonical += name
                canonical += ":"
            }
            canonical += collapseWhitespace(headers[index].value)
            canonical += "\n"
            previous = name
        }
        return (canonical, signed)
    }

    /// Trimmed, with runs of spaces, tabs, CR and LF made one space. Values that need no change
    /// (all of ours) come back as they are, without a copy.
    private static func collapseWhitespace(_ value: String) -> String {
        func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        let utf8 = value.utf8
        var previousWasSpace = true  // so a leading space counts as a change
        var needsChange = false
        for byte in utf8 {
            if isWhitespace(byte) {
                if previousWasSpace || byte != 0x20 { needsChange = true; break }
                previousWasSpace = true
            } else {
                previousWasSpace = false
            }
        }
        guard needsChange || (previousWasSpace && !utf8.isEmpty) else { return value }

        var result: [UInt8] = []
        result.reserveCapacity(utf8.count)
        var pendingSpace = false
        for byte in utf8 {
            if isWhitespace(byte) {
                pendingSpace = !result.isEmpty
            } else {
                if pendingSpace { result.append(0x20) }
                pendingSpace = false
                result.append(byte)
            }
        }
        return String(decoding: result, as: UTF8.self)
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
