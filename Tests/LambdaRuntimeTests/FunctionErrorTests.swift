import Foundation
import Testing
import TestHTTPServer
@testable import LambdaRuntime

@Suite struct FunctionErrorTests {
    @Test(arguments: nastyStrings)
    func jsonBodyIsValidJSONAndKeepsTheMessageExactly(message: String) throws {
        let error = FunctionError(type: "InvalidPayload", message: message)

        let body = error.jsonBody()

        #expect(!body.contains { $0 < 0x20 }, "raw control characters are not allowed in JSON strings")
        let document = try jsonObject(body)
        #expect(Set(document.keys) == ["errorMessage", "errorType", "stackTrace", "error", "error_type"])
        #expect(sameScalars(document["errorMessage"] as? String, message),
                "got \(String(describing: document["errorMessage"])), body \(String(decoding: body, as: UTF8.self))")
        #expect(document["errorType"] as? String == "InvalidPayload")
        #expect((document["stackTrace"] as? [Any])?.isEmpty == true)
        // Hugging Face clients read a failure as {"error": "<message>"}: the same words again.
        #expect(document["error"] as? String == document["errorMessage"] as? String)
        #expect(document["error_type"] as? String == "InvalidPayload")
    }

    @Test(arguments: nastyStrings)
    func nastyErrorTypesStayValidJSONToo(type: String) throws {
        let document = try jsonObject(FunctionError(type: type, message: "m").jsonBody())
        #expect(sameScalars(document["errorType"] as? String, type))
    }

    @Test func headerValueCarriesTheOrigin() {
        #expect(FunctionError(type: "InvalidPayload", message: "").headerValue == "Function.InvalidPayload")
        #expect(FunctionError(.function, type: "X", message: "").headerValue == "Function.X")
        #expect(FunctionError(.runtime, type: "ResponseTooLarge", message: "").headerValue == "Runtime.ResponseTooLarge")
    }

    @Test func slashesAreNotEscaped() {
        let body = String(decoding: FunctionError(type: "T", message: "a/b").jsonBody(), as: UTF8.self)
        #expect(body.contains(#""a/b""#), "\(body)")
    }
}
