import JSON

/// An error reported to Lambda for one invocation (or for initialisation).
///
/// `type` is a short name such as `InvalidPayload`; the `Lambda-Runtime-Function-Error-Type`
/// header carries it as `Function.InvalidPayload` (or `Runtime.…` for failures of the runtime
/// itself), the only shapes Lambda keeps.
public struct FunctionError: Error, Sendable, Equatable {
    public enum Origin: String, Sendable {
        case function = "Function"
        case runtime = "Runtime"
    }

    public var origin: Origin
    public var type: String
    public var message: String

    public init(_ origin: Origin = .function, type: String, message: String) {
        self.origin = origin
        self.type = type
        self.message = message
    }

    public var headerValue: String { "\(origin.rawValue).\(type)" }

    /// The most `errorMessage` takes once escaped; a longer message is cut. The invoker gets a
    /// readable error, not whatever an upstream wrote.
    public static let maximumMessageBytes = 1024

    /// `{"errorMessage": …, "errorType": …, "stackTrace": [], "error": …, "error_type": …}`:
    /// Lambda's keys, and the same words under the keys Hugging Face clients read, so a direct
    /// invoker using one sees our message. Written by the JSON module so any message text
    /// (quotes, control characters, non-ASCII) stays valid JSON.
    public func jsonBody() -> [UInt8] {
        let message = JSONValue.string(message.cappedForJSON(Self.maximumMessageBytes))
        return JSONValue.object([
            "errorMessage": message,
            "errorType": .string(type),
            "stackTrace": .array([]),
            "error": message,
            "error_type": .string(type),
        ]).serialized()
    }
}
