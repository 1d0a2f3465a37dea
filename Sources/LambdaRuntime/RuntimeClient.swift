import HTTPClient

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One event to handle, as `/next` delivered it.
public struct Invocation: Sendable {
    public var context: LambdaContext
    public var event: Data

    public init(context: LambdaContext, event: Data) {
        self.context = context
        self.event = event
    }
}

public enum RuntimeAPIError: Error, Equatable, CustomStringConvertible {
    /// The Runtime API could not be reached or dropped the connection.
    case transport(HTTPClientError)
    /// The Runtime API answered with a status we did not expect.
    case unexpectedStatus(endpoint: String, status: Int, body: String)
    /// `/next` answered without a header the contract requires.
    case missingHeader(String)

    public var description: String {
        switch self {
        case .transport(let error): "Runtime API unreachable: \(error)"
        case .unexpectedStatus(let endpoint, let status, let body): "Runtime API \(endpoint) answered \(status): \(body)"
        case .missingHeader(let name): "Runtime API /next answered without \(name)"
        }
    }
}

/// The Lambda Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
/// over one kept-alive HTTP connection.
public final class RuntimeClient {
    private let baseURL: String
    private let http: HTTPClient

    /// `endpoint` is `AWS_LAMBDA_RUNTIME_API`: `host:port`, no scheme.
    public init(endpoint: String) throws(HTTPClientError) {
        baseURL = "http://\(endpoint)/2018-06-01"
        // A proxy set for the function's own traffic must never capture the Runtime API.
        http = try HTTPClient(configuration: .init(honorsProxyEnvironment: false))
    }

    /// Blocks until Lambda has an event. No total timeout: Lambda freezes the process while it
    /// waits, and a poll that timed out across a freeze would be answered 403 after the thaw.
    public func next() throws(RuntimeAPIError) -> Invocation {
        let response = try send(HTTPRequest(method: .get, url: "\(baseURL)/runtime/invocation/next", totalTimeoutMilliseconds: nil))
        guard response.status == 200 else {
            throw .unexpectedStatus(endpoint: "/next", status: response.status, body: Self.preview(response.body))
        }
        guard let requestID = response.header("Lambda-Runtime-Aws-Request-Id"), !requestID.isEmpty else {
            throw .missingHeader("Lambda-Runtime-Aws-Request-Id")
        }
        guard let deadline = response.header("Lambda-Runtime-Deadline-Ms").flatMap(Int64.init) else {
            throw .missingHeader("Lambda-Runtime-Deadline-Ms")
        }
        let context = LambdaContext(
            requestID: requestID,
            deadlineMilliseconds: deadline,
            invokedFunctionARN: response.header("Lambda-Runtime-Invoked-Function-Arn") ?? "",
            traceID: response.header("Lambda-Runtime-Trace-Id"),
            clientContext: response.header("Lambda-Runtime-Client-Context"),
            cognitoIdentity: response.header("Lambda-Runtime-Cognito-Identity"))
        return Invocation(context: context, event: response.body)
    }

    public func respond(requestID: String, body: Data) throws(RuntimeAPIError) {
        try post("/runtime/invocation/\(requestID)/response", body: body, errorType: nil)
    }

    public func reportError(requestID: String, _ error: FunctionError) throws(RuntimeAPIError) {
        try post("/runtime/invocation/\(requestID)/error", body: error.jsonBody(), errorType: error.headerValue)
    }

    public func reportInitError(_ error: FunctionError) throws(RuntimeAPIError) {
        try post("/runtime/init/error", body: error.jsonBody(), errorType: error.headerValue)
    }

    private func post(_ path: String, body: Data, errorType: String?) throws(RuntimeAPIError) {
        var headers = [HTTPHeader(name: "Content-Type", value: "application/json")]
        if let errorType {
            headers.append(HTTPHeader(name: "Lambda-Runtime-Function-Error-Type", value: errorType))
        }
        // The Runtime API is on the same host; 10 s only guards against a wedged peer.
        let request = HTTPRequest(
            method: .post, url: baseURL + path, headers: headers, body: body, totalTimeoutMilliseconds: 10_000)
        let response = try send(request)
        guard (200..<300).contains(response.status) else {
            throw .unexpectedStatus(endpoint: path, status: response.status, body: Self.preview(response.body))
        }
    }

    private func send(_ request: HTTPRequest) throws(RuntimeAPIError) -> HTTPResponse {
        do {
            return try http.send(request)
        } catch {
            throw .transport(error)
        }
    }

    private static func preview(_ body: Data) -> String {
        String(decoding: body.prefix(300), as: UTF8.self)
    }
}
