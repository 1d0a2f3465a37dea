import Foundation
import Testing
@testable import SigV4

/// Every header-signing case of AWS's own SigV4 test suite (aws-c-auth), stage by stage.
@Suite struct SigningTestSuiteTests {
    static let suiteDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures/aws-signing-test-suite")

    static let caseNames: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: suiteDirectory.path)) ?? []
        return names.filter { !$0.hasSuffix(".md") }.sorted()
    }()

    @Test func suiteIsComplete() {
        #expect(Self.caseNames.count == 38)
    }

    @Test(arguments: caseNames)
    func signsLikeTheSuite(_ name: String) throws {
        let testCase = try SuiteCase(directory: Self.suiteDirectory.appendingPathComponent(name))
        let signer = SigV4Signer(
            credentials: testCase.credentials, region: testCase.region, service: testCase.service,
            normalizesPath: testCase.normalize)
        let payloadHash = Digest.hex(Digest.sha256(Array(testCase.body.utf8)))

        var headersToSign = testCase.headers + [("X-Amz-Date", testCase.time.amzDate)]
        if testCase.signBody { headersToSign.append(("X-Amz-Content-Sha256", payloadHash)) }
        if let token = testCase.credentials.sessionToken, !testCase.omitSessionToken {
            headersToSign.append(("X-Amz-Security-Token", token))
        }
        let (canonical, _) = signer.canonicalRequest(
            method: testCase.method, path: testCase.path, query: testCase.query,
            headers: headersToSign, payloadHash: payloadHash)
        #expect(canonical == testCase.expected("header-canonical-request.txt"))

        let stringToSign = signer.stringToSign(canonicalRequest: canonical, time: testCase.time)
        #expect(stringToSign == testCase.expected("header-string-to-sign.txt"))
        #expect(signer.signature(stringToSign: stringToSign, dateStamp: testCase.time.dateStamp)
            == testCase.expected("header-signature.txt"))

        // The one-call API must produce exactly the headers of the suite's signed request.
        let added = signer.signatureHeaders(
            method: testCase.method, path: testCase.path, query: testCase.query, headers: testCase.headers,
            payloadHash: payloadHash, time: testCase.time,
            options: .init(addsContentSHA256Header: testCase.signBody, signsSessionToken: !testCase.omitSessionToken))
        let signedRequest = try SuiteCase.parseRequest(testCase.expected("header-signed-request.txt"))
        for header in added {
            let expected = signedRequest.headers.filter { $0.name.lowercased() == header.name.lowercased() }
            #expect(expected.map(\.value) == [header.value], "\(header.name)")
        }
    }
}

/// One folder of the suite.
struct SuiteCase {
    var credentials: AWSCredentials
    var region: String
    var service: String
    var normalize: Bool
    var signBody: Bool
    var omitSessionToken: Bool
    var time: SigningTime
    var method: String
    var path: String
    var query: String
    var headers: [SigV4Signer.Header]
    var body: String
    let directory: URL

    init(directory: URL) throws {
        self.directory = directory
        let contextData = try Data(contentsOf: directory.appendingPathComponent("context.json"))
        let context = try JSONSerialization.jsonObject(with: contextData) as! [String: Any]
        let credentials = context["credentials"] as! [String: String]
        self.credentials = AWSCredentials(
            accessKeyID: credentials["access_key_id"]!, secretAccessKey: credentials["secret_access_key"]!,
            sessionToken: credentials["token"])
        region = context["region"] as! String
        service = context["service"] as! String
        normalize = context["normalize"] as! Bool
        signBody = context["sign_body"] as! Bool
        omitSessionToken = context["omit_session_token"] as? Bool ?? false
        let timestamp = ISO8601DateFormatter().date(from: context["timestamp"] as! String)!
        time = SigningTime(secondsSince1970: Int(timestamp.timeIntervalSince1970))

        let request = try Self.parseRequest(
            String(contentsOf: directory.appendingPathComponent("request.txt"), encoding: .utf8))
        (method, path, query, headers, body) = (request.method, request.path, request.query, request.headers, request.body)
    }

    func expected(_ file: String) -> String {
        try! String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
    }

    /// The suite's raw request format: request line, `Name:value` lines (a line starting with
    /// whitespace continues the previous value), a blank line, the body.
    static func parseRequest(_ text: String) throws -> (
        method: String, path: String, query: String, headers: [SigV4Signer.Header], body: String
    ) {
        var lines = text.components(separatedBy: "\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        let target = requestLine[1...].dropLast().joined(separator: " ")
        let (path, query) = target.firstIndex(of: "?").map {
            (String(target[..<$0]), String(target[target.index(after: $0)...]))
        } ?? (target, "")

        var headers: [SigV4Signer.Header] = []
        var bodyLines: [String] = []
        var inBody = false
        for line in lines {
            if inBody { bodyLines.append(line); continue }
            if line.isEmpty { inBody = true; continue }
            if line.first == " " || line.first == "\t" {
                headers[headers.count - 1].value += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        return (String(requestLine[0]), path, query, headers, bodyLines.joined(separator: "\n"))
    }
}
