import HTTP

/// One event to handle, as `/next` delivered it.
public struct Invocation: Sendable {
    public var context: LambdaContext
    public var event: [UInt8]

    public init(context: LambdaContext, event: [UInt8]) {
        self.context = context
        self.event = event
    }
}

public enum RuntimeAPIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The Runtime API could not be reached or dropped the connection.
    case transport(HTTPClientError)
    /// The Runtime API answered with a status we did not expect.
    case unexpectedStatus(endpoint: String, status: Int, body: String)
    /// `/next` answered without a header the contract requires.
    case missingHeader(String)
    /// `/next` answered with a header the contract requires, but its value makes no sense.
    case invalidHeader(name: String, value: String)
    /// `/next` delivered an invocation with a usable request id but other headers that are not
    /// (`problem`): it can be answered, with an error, but not handled.
    indirect case invalidInvocation(requestID: String, problem: RuntimeAPIError)

    public var description: String {
        switch self {
        case .transport(let error): "Runtime API unreachable: \(error)"
        case .unexpectedStatus(let endpoint, let status, let body): "Runtime API \(endpoint) answered \(status): \(body)"
        case .missingHeader(let name): "Runtime API /next answered without \(name)"
        case .invalidHeader(let name, let value): "Runtime API /next answered with an invalid \(name): \"\(value.prefix(100))\""
        case .invalidInvocation(let requestID, let problem): "\(problem) (request id \(requestID.prefix(100)))"
        }
    }
}

/// The Lambda Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
/// over one kept-alive HTTP connection.
public final class RuntimeClient {
    private static let basePath = "/2018-06-01"
    private let connection: PlainHTTPConnection
    private let postTimeoutMilliseconds: Int

    /// `endpoint` is `AWS_LAMBDA_RUNTIME_API`: `host:port`, no scheme. The Runtime API is on the
    /// same host; the timeout on posts only guards against a wedged peer.
    public init(endpoint: String, postTimeoutMilliseconds: Int = 10_000) throws(HTTPClientError) {
        // Plain sockets, never a proxy: a proxy set for the function's own traffic must not
        // capture the Runtime API.
        connection = try PlainHTTPConnection(authority: endpoint)
        self.postTimeoutMilliseconds = postTimeoutMilliseconds
    }

    /// Blocks until Lambda has an event. No total timeout: Lambda freezes the process while it
    /// waits, and a poll that timed out across a freeze would be answered 403 after the thaw.
    public func next() throws(RuntimeAPIError) -> Invocation {
        let response = try send(.get, "/runtime/invocation/next", timeoutMilliseconds: nil)
        guard response.status == 200 else {
            throw .unexpectedStatus(endpoint: "/next", status: response.status, body: Self.preview(response.body))
        }
        do throws(RuntimeAPIError) {
            return Invocation(context: try LambdaContext(nextResponseHeaders: response), event: response.body)
        } catch {
            guard let requestID = response.header("Lambda-Runtime-Aws-Request-Id"), !requestID.isEmpty else { throw error }
            throw .invalidInvocation(requestID: requestID, problem: error)
        }
    }

    /// Closes the connection: the next request opens a fresh one.
    public func disconnect() {
        connection.disconnect()
    }

    public func respond(requestID: String, body: [UInt8]) throws(RuntimeAPIError) {
        try post("/runtime/invocation/\(Self.pathSegment(requestID))/response", body: body, errorType: nil)
    }

    public func reportError(requestID: String, _ error: FunctionError) throws(RuntimeAPIError) {
        try post("/runtime/invocation/\(Self.pathSegment(requestID))/error", body: error.jsonBody(), errorType: error.headerValue)
    }

    public func reportInitError(_ error: FunctionError) throws(RuntimeAPIError) {
        try post("/runtime/init/error", body: error.jsonBody(), errorType: error.headerValue)
    }

    private func post(_ path: String, body: [UInt8], errorType: String?) throws(RuntimeAPIError) {
        var headers = [HTTPHeader(name: "Content-Type", value: "application/json")]
        if let errorType {
            headers.append(HTTPHeader(name: "Lambda-Runtime-Function-Error-Type", value: errorType))
        }
        let response = try send(.post, path, headers: headers, body: body, timeoutMilliseconds: postTimeoutMilliseconds)
        guard (200..<300).contains(response.status) else {
            throw .unexpectedStatus(endpoint: path, status: response.status, body: Self.preview(response.body))
        }
    }

    private func send(
        _ method: HTTPMethod, _ path: String, headers: [HTTPHeader] = [], body: [UInt8] = [], timeoutMilliseconds: Int?
    ) throws(RuntimeAPIError) -> HTTPResponse {
        do {
            return try connection.send(
                method: method, path: Self.basePath + path, headers: headers, body: body, timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            throw .transport(error)
        }
    }

    /// Request ids are UUIDs; encoding anything else keeps an odd id from changing the URL's path.
    static func pathSegment(_ text: String) -> String {
        // "." and ".." are dot segments: left as they are they would climb out of the path.
        let isDotSegment = text == "." || text == ".."
        if !text.isEmpty, !isDotSegment, text.utf8.allSatisfy(isUnreserved) { return text }
        var out = ""
        for byte in text.utf8 {
            if isUnreserved(byte) && !isDotSegment {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    private static func preview(_ body: [UInt8]) -> String {
        String(decoding: body.prefix(300), as: UTF8.self)
    }
}
