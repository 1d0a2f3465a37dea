import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// What the Runtime API tells us about one invocation, besides the event itself.
public struct LambdaContext: Sendable, Equatable {
    public var requestID: String
    /// When Lambda stops the invocation, in milliseconds since 1970 (`Lambda-Runtime-Deadline-Ms`).
    public var deadlineMilliseconds: Int64
    public var invokedFunctionARN: String
    /// `Lambda-Runtime-Trace-Id`, the X-Ray trace header to pass on downstream.
    public var traceID: String?
    /// Base64-free JSON as Lambda sends it, for invocations from the mobile SDKs.
    public var clientContext: String?
    public var cognitoIdentity: String?

    public init(
        requestID: String,
        deadlineMilliseconds: Int64,
        invokedFunctionARN: String = "",
        traceID: String? = nil,
        clientContext: String? = nil,
        cognitoIdentity: String? = nil
    ) {
        self.requestID = requestID
        self.deadlineMilliseconds = deadlineMilliseconds
        self.invokedFunctionARN = invokedFunctionARN
        self.traceID = traceID
        self.clientContext = clientContext
        self.cognitoIdentity = cognitoIdentity
    }

    /// Reads the `Lambda-Runtime-*` headers of a `/next` answer; the request id and the deadline
    /// are required, the rest optional.
    public init(nextResponseHeaders response: HTTPResponse) throws(RuntimeAPIError) {
        guard let requestID = response.header("Lambda-Runtime-Aws-Request-Id"), !requestID.isEmpty else {
            throw .missingHeader("Lambda-Runtime-Aws-Request-Id")
        }
        guard let deadlineText = response.header("Lambda-Runtime-Deadline-Ms") else {
            throw .missingHeader("Lambda-Runtime-Deadline-Ms")
        }
        guard let deadline = Int64(deadlineText), deadline > 0 else {
            throw .invalidHeader(name: "Lambda-Runtime-Deadline-Ms", value: deadlineText)
        }
        self.init(
            requestID: requestID,
            deadlineMilliseconds: deadline,
            invokedFunctionARN: response.header("Lambda-Runtime-Invoked-Function-Arn") ?? "",
            traceID: response.header("Lambda-Runtime-Trace-Id"),
            clientContext: response.header("Lambda-Runtime-Client-Context"),
            cognitoIdentity: response.header("Lambda-Runtime-Cognito-Identity"))
    }

    /// Milliseconds left before Lambda ends the invocation (negative once it has passed).
    public func remainingMilliseconds(now: Int64 = WallClock.nowMilliseconds()) -> Int64 {
        deadlineMilliseconds - now
    }
}
