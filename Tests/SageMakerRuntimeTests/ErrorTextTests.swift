import Foundation
import HTTP
import Testing
@testable import SageMakerRuntime

/// AWS's own wording, as a signature or credential failure quotes the request back.
private enum AWSWords {
    static let accessKeyID = "ASIAQNZGKIQY56JQ7WML"
    static let secretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let sessionToken = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6hrbHyS0RwB3xOhpdn1NEVsnJ3cBpKv0Vf"
        + "Ux7cUvsJvAIgUf8ygVbIo+VAOGQqNVJH7vX3yLIO2wQ7l3dTrlBGHtcqlQMI8///////////ARAAGgw2MjE0OTkyMzM0NzgiDGiakVqfvDRU0="
    static let signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

    /// InvalidSignatureException: the message quotes the canonical request AWS expected.
    static let signatureMismatch = """
        The request signature we calculated does not match the signature you provided. Check your AWS Secret Access \
        Key and signing method. Consult the service documentation for details.

        The Canonical String for this request should have been
        'POST
        /endpoints/financial-summarizer/invocations

        content-type:application/json
        host:runtime.sagemaker.us-east-1.amazonaws.com
        x-amz-date:20261203T120000Z
        x-amz-security-token:\(sessionToken)

        content-type;host;x-amz-date;x-amz-security-token
        2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae'

        The String-to-Sign should have been
        'AWS4-HMAC-SHA256
        20261203T120000Z
        20261203/us-east-1/sagemaker/aws4_request
        9e0e4a1a9dde3ec8b4cd5a2e8bb2a5e9a1f0b26ba1e9f8c7e3b1b2c4d5e6f708'

        """

    /// IncompleteSignatureException: the message quotes the Authorization header.
    static let incompleteSignature = "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 "
        + "Credential=\(accessKeyID)/20261203/us-east-1/sagemaker/aws4_request, Signature=\(signature)"

    static let accessDenied = "User: arn:aws:sts::123456789012:assumed-role/summarizer-role/summarizer is not authorized to "
        + "perform: sagemaker:InvokeEndpoint on resource: arn:aws:sagemaker:us-east-1:123456789012:endpoint/financial-summarizer"

    static let modelErrorMessage = "Received client error (400) from primary with message \"Input is too long\". See "
        + "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/aws/sagemaker/"
        + "Endpoints/financial-summarizer in account 123456789012 for more information."
}

@Suite struct ErrorTextTests {
    private func expectNoSecret(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in [AWSWords.accessKeyID, AWSWords.secretKey, AWSWords.sessionToken, AWSWords.signature,
                       String(AWSWords.sessionToken.prefix(24)), String(AWSWords.signature.prefix(24))] {
            #expect(!text.contains(secret), "\(secret) in \(text)", sourceLocation: sourceLocation)
        }
    }

    @Test func theQuotedCanonicalRequestIsCutWithTheTokenInIt() {
        let clean = ErrorText.withoutSecrets(AWSWords.signatureMismatch)
        expectNoSecret(clean)
        #expect(clean.hasPrefix("The request signature we calculated does not match"))
        #expect(!clean.contains("x-amz-security-token:"))
        #expect(clean.contains("left out"))
    }

    @Test func theQuotedAuthorizationHeaderLosesItsKeyIDAndSignature() {
        let clean = ErrorText.withoutSecrets(AWSWords.incompleteSignature)
        expectNoSecret(clean)
        #expect(clean.hasPrefix("Authorization header requires 'SignedHeaders' parameter."))
        #expect(clean.contains("/20261203/us-east-1/sagemaker/aws4_request"), "the scope helps and is no secret: \(clean)")
    }

    @Test func theCallersOwnSecretsGoWhateverTheirShape() {
        let message = "odd: key=\(AWSWords.secretKey) token \(AWSWords.sessionToken.prefix(30)) id ABC-\(AWSWords.accessKeyID)-x"
        let clean = ErrorText.withoutSecrets(message, secrets: [AWSWords.secretKey, String(AWSWords.sessionToken.prefix(30))])
        expectNoSecret(clean)
        #expect(clean.hasPrefix("odd: key=[redacted] token [redacted]"), "\(clean)")
    }

    @Test func ordinaryWordsStay() {
        for message in ["Rate exceeded", AWSWords.accessDenied, AWSWords.modelErrorMessage,
                        "Endpoint financial-summarizer of account 123456789012 not found.",
                        "Input is too long for the tokenizer (1300 > 1024 tokens)"] {
            #expect(ErrorText.withoutSecrets(message) == message)
        }
    }

    @Test func callersOutsideTheAccountDoNotLearnWhichAccount() {
        let access = ErrorText.withoutAccountDetails(AWSWords.accessDenied)
        #expect(access == "User: [arn] is not authorized to perform: sagemaker:InvokeEndpoint on resource: [arn]")

        let model = ErrorText.withoutAccountDetails(AWSWords.modelErrorMessage)
        #expect(!model.contains("123456789012") && !model.contains("console.aws") && !model.contains("/aws/sagemaker"))
        #expect(model.contains("\"Input is too long\""), "what the model said stays: \(model)")

        #expect(ErrorText.withoutAccountDetails("Endpoint financial-summarizer of account 123456789012 not found.")
            == "Endpoint financial-summarizer of account [account] not found.")
        #expect(ErrorText.withoutAccountDetails("1300 > 1024 tokens, id 12345678901, 1234567890123")
            == "1300 > 1024 tokens, id 12345678901, 1234567890123", "only twelve digits make an account id")
    }

    @Test func errorsReadFromSageMakerNeverHoldTheCredentials() {
        let secrets = [AWSWords.accessKeyID, AWSWords.secretKey, AWSWords.sessionToken]
        for (code, message) in [("InvalidSignatureException", AWSWords.signatureMismatch),
                                ("IncompleteSignatureException", AWSWords.incompleteSignature)] {
            let body = try! JSONSerialization.data(withJSONObject: ["message": message])
            let error = SageMakerError.from(
                status: 403, headers: [HTTPHeader(name: "x-amzn-ErrorType", value: "\(code):http://internal.amazon.com/")],
                body: Array(body), secrets: secrets)
            guard case .accessDenied(code, _) = error else {
                Issue.record("expected accessDenied, got \(error)")
                continue
            }
            expectNoSecret(error.description)
        }
        // The model's words and anything else from the body are cleaned too.
        let body = try! JSONSerialization.data(withJSONObject: [
            "Message": "Received server error (500)", "OriginalStatusCode": 500,
            "OriginalMessage": "echoing x-amz-security-token:\(AWSWords.sessionToken)",
        ])
        let model = SageMakerError.from(status: 424, headers: [HTTPHeader(name: "x-amzn-ErrorType", value: "ModelError")], body: Array(body), secrets: secrets)
        expectNoSecret(model.description)
        let raw = SageMakerError.from(status: 502, headers: [], body: Array("proxy says \(AWSWords.sessionToken)".utf8), secrets: secrets)
        expectNoSecret(raw.description)
    }

    // MARK: The function's own secrets in every form, and the cap

    private static let secrets = [AWSWords.accessKeyID, AWSWords.secretKey, AWSWords.sessionToken]

    /// The forms a secret can be quoted in.
    private static func urlEncoded(_ text: String) -> String {
        text.replacingOccurrences(of: "/", with: "%2F").replacingOccurrences(of: "+", with: "%2B").replacingOccurrences(of: "=", with: "%3D")
    }

    private static func jsonEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "/", with: "\\/").replacingOccurrences(of: "+", with: "\\u002B")
    }

    private static func wrapped(_ text: String, every width: Int, with newline: String) -> String {
        var out = ""
        for (index, character) in text.enumerated() {
            if index > 0 && index % width == 0 { out += newline }
            out.append(character)
        }
        return out
    }

    /// Fails when any 16-character run of a secret can still be read in `text`, as it stands or
    /// read back from any of the forms above (an oracle independent of the cleaner's own reader).
    private func expectNoPiece(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let readings = [
            text,
            text.removingPercentEncoding ?? text,
            text.replacingOccurrences(of: "\\u002B", with: "+").replacingOccurrences(of: "\\", with: "")
                .replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: " ", with: ""),
        ]
        for secret in Self.secrets {
            let characters = Array(secret)
            for start in 0...(characters.count - ErrorText.secretPieceLength) {
                let piece = String(characters[start..<(start + ErrorText.secretPieceLength)])
                for reading in readings where reading.contains(piece) {
                    Issue.record("\(piece) of a secret survives in \(text.prefix(300))", sourceLocation: sourceLocation)
                    return
                }
            }
        }
    }

    @Test func theSessionTokenURLEncodedWithNoNameBesideItGoesInEveryPiece() {
        let encoded = Self.urlEncoded(AWSWords.sessionToken)
        let clean = ErrorText.withoutSecrets("the request carried \(encoded) and was refused", secrets: Self.secrets)
        expectNoPiece(clean)
        #expect(clean.hasPrefix("the request carried [redacted]") && clean.hasSuffix(" and was refused"), "\(clean)")
        // Lower-case hex, and encoded twice (%252F) as a proxy may.
        let twice = ErrorText.withoutSecrets(encoded.lowercasedHex().replacingOccurrences(of: "%", with: "%25"), secrets: Self.secrets)
        #expect(twice == ErrorText.redacted, "\(twice)")
        #expect(ErrorText.withoutSecrets(encoded.lowercasedHex(), secrets: Self.secrets) == ErrorText.redacted)
    }

    @Test(arguments: ["\n", "\r\n", "\n    ", "\\n"])
    func aWrappedTokenGoesWhole(newline: String) {
        let text = "token was: " + Self.wrapped(AWSWords.sessionToken, every: 40, with: newline) + " (end)"
        let clean = ErrorText.withoutSecrets(text, secrets: Self.secrets)
        expectNoPiece(clean)
        #expect(clean == "token was: [redacted] (end)", "\(clean)")
    }

    @Test func jsonEscapedSecretsInTheRawBodyGo() {
        // Not JSON (a proxy's page quoting a JSON document): the raw-body fallback is what is read.
        let body = "<html>upstream said {\"token\":\"\(Self.jsonEscaped(AWSWords.sessionToken))\",\"key\":\"\(Self.jsonEscaped(AWSWords.secretKey))\"}"
        let error = SageMakerError.from(status: 502, headers: [], body: Array(body.utf8), secrets: Self.secrets)
        expectNoPiece(error.description)
        #expect(error.description.contains("upstream said"), "\(error)")
    }

    @Test func anyRunOfSixteenCharactersOfASecretIsEnoughAndFifteenIsNot() throws {
        let token = Array(AWSWords.sessionToken)
        for (start, length) in [(0, 16), (37, 16), (100, 35), (token.count - 16, 16), (50, 59)] {
            let piece = String(token[start..<(start + length)])
            let clean = ErrorText.withoutSecrets("before \(piece) after", secrets: Self.secrets)
            #expect(clean == "before [redacted] after", "piece at \(start) of \(length): \(clean)")
        }
        // A `%` or `\\` just before a piece that starts with hex digits or `n`: read as an escape,
        // it would swallow the piece's start.
        for (prefix, start) in [("%", "3cBpKv0"), ("%25", "3cBpKv0"), ("\\", "nJ3cBpK")] {
            let from = try #require(AWSWords.sessionToken.range(of: start)).lowerBound
            let piece = String(AWSWords.sessionToken[from...].prefix(16))
            #expect(ErrorText.withoutSecrets("x \(prefix)\(piece) y", secrets: Self.secrets) == "x \(prefix)[redacted] y")
        }
        let short = String(token[10..<25])
        #expect(ErrorText.withoutSecrets("before \(short) after", secrets: Self.secrets) == "before \(short) after")
        // The secret key and the key id, URL-encoded, in pieces too.
        let key = Self.urlEncoded(String(AWSWords.secretKey.dropFirst(5)))
        #expect(ErrorText.withoutSecrets("k=\(key).", secrets: Self.secrets) == "k=[redacted].")
        let id = String(AWSWords.accessKeyID.dropFirst(4))
        #expect(ErrorText.withoutSecrets("id \(id) x", secrets: Self.secrets) == "id [redacted] x")
    }

    @Test func aHugeTextIsCutBeforeItIsCleaned() {
        // What made cleaning quadratic: many matches, each rewriting the text.
        let unit = "Signature=abc \(AWSWords.sessionToken) x-amz-security-token: \(AWSWords.secretKey) "
        let text = String(repeating: unit, count: 4 * 1024 * 1024 / unit.utf8.count)
        let clean = ErrorText.withoutSecrets(text, secrets: Self.secrets)
        #expect(clean.utf8.count <= ErrorText.maximumBytes + 16, "\(clean.utf8.count) bytes")
        #expect(clean.hasSuffix(" […]"), "says it was cut")
        expectNoPiece(clean)
        // A multi-byte character at the cut is not split.
        let wide = String(repeating: "€", count: ErrorText.maximumBytes)
        #expect(ErrorText.withoutSecrets(wide).unicodeScalars.allSatisfy { $0 == "€" || " […]".unicodeScalars.contains($0) })
    }

    @Test func aTokenCutByTheCapLeavesNoPieceBehind() {
        let filler = String(repeating: "a ", count: (ErrorText.maximumBytes - 20) / 2)
        let clean = ErrorText.withoutSecrets(filler + "zz" + "\(AWSWords.signature)\(AWSWords.signature)", secrets: [])
        #expect(!clean.contains(String(AWSWords.signature.prefix(16))), "\(clean.suffix(60))")
    }
}

private extension String {
    /// `%2F` → `%2f`.
    func lowercasedHex() -> String {
        var out = ""
        var afterPercent = 0
        for character in self {
            if character == "%" { afterPercent = 2; out.append(character); continue }
            out += afterPercent > 0 ? character.lowercased() : String(character)
            afterPercent = max(0, afterPercent - 1)
        }
        return out
    }
}

@Suite struct InferenceIDTests {
    /// botocore's `InferenceId`: 1 to 64 characters, `\A\S[\p{Print}]*\z`.
    @Test(arguments: [
        ("c5b6b1e4-4ac3-4f2a-9d3f-1f0e2d3c4b5a", true), ("x", true), ("a b", true), (String(repeating: "x", count: 64), true),
        ("", false), (" leading", false), (String(repeating: "x", count: 65), false), ("a\r\nX-Injected: 1", false),
        ("tab\there", false), ("café", false),
        ("Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678", false),
    ])
    func inferenceIDsFollowTheServiceModel(id: String, valid: Bool) {
        #expect(InvokeEndpointRequest.isValidInferenceID(id) == valid)
    }
}
