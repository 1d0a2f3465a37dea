import JSON
import Testing
@testable import Tracing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct TraceHeaderTests {
    @Test func readsLambdasHeader() throws {
        let header = try #require(TraceHeader("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0"))
        #expect(header == TraceHeader(root: "1-5759e988-bd862e3fe1be46a994272793", parent: "53995c3f42cd8ad8", sampled: true))
        #expect(header.wantsSubsegments)
    }

    @Test(arguments: [
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f;Sampled=1",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
    ])
    func unsampledOrParentlessTracesGetNoSubsegment(header: String) throws {
        #expect(try #require(TraceHeader(header)).wantsSubsegments == false)
    }

    @Test(arguments: ["", "Parent=53995c3f42cd8ad8;Sampled=1", "Root=2-5759e988-bd862e3fe1be46a994272793",
                      "Root=1-5759e98-bd862e3fe1be46a994272793", "Root=1-5759e988-bd862e3fe1be46a99427279z\"}"])
    func aHeaderWithoutAValidRootIsIgnored(header: String) {
        #expect(TraceHeader(header) == nil)
    }
}

/// The document against the X-Ray Developer Guide's "segment documents": a subsegment sent on
/// its own has `name`, a 16-hex-digit `id`, `trace_id`, `parent_id`, `type: subsegment` and
/// epoch-second `start_time` and `end_time`; an AWS call is in the `aws` namespace with its
/// `operation`; a 4xx sets `error` (and `throttle` for throttling), a 5xx `fault`.
@Suite struct SubsegmentTests {
    static let trace = TraceHeader(root: "1-6744b1c0-0123456789abcdef01234567", parent: "53995c3f42cd8ad8", sampled: true)

    static func subsegment(_ status: Subsegment.Status = .ok, error: String? = nil) -> Subsegment {
        Subsegment(
            name: "SageMakerRuntime", id: Subsegment.newID(), trace: trace, startTime: 1_796_694_712.125,
            endTime: 1_796_694_712.5, operation: "InvokeEndpoint", region: "eu-west-1", attempts: 3,
            httpStatus: error == nil ? 200 : 503, status: status, errorType: error,
            errorMessage: error.map { "SageMaker failed: \"\($0)\"" }, metadata: [("endpoint_name", "pegasus")])
    }

    func checkedDocument(_ subsegment: Subsegment) throws -> JSONValue {
        let datagram = subsegment.datagram
        let parts = datagram.split(separator: "\n", maxSplits: 1)
        #expect(parts.count == 2)
        #expect(try JSONValue(parsing: Array(parts[0].utf8)) == .object(["format": .string("json"), "version": .int(1)]))
        let document = try JSONValue(parsing: Array(parts[1].utf8))
        let id = try #require(document["id"]?.stringValue)
        #expect(id.count == 16 && id.allSatisfy(\.isHexDigit))
        #expect(document["name"] == .string("SageMakerRuntime"))
        #expect(document["trace_id"] == .string(Self.trace.root))
        #expect(document["parent_id"] == .string("53995c3f42cd8ad8"))
        #expect(document["type"] == .string("subsegment"))
        #expect(document["start_time"] == .double(1_796_694_712.125))
        #expect(document["end_time"] == .double(1_796_694_712.5))
        #expect(document["namespace"] == .string("aws"))
        #expect(document["aws"] == .object(["operation": .string("InvokeEndpoint"), "region": .string("eu-west-1"), "retries": .int(2)]))
        #expect(document["metadata"]?["default"] == .object(["attempts": .int(3), "endpoint_name": .string("pegasus")]))
        #expect(datagram.utf8.count < 64 * 1024)
        return document
    }

    @Test func aSuccessfulCallHasNoFlags() throws {
        let document = try checkedDocument(Self.subsegment())
        #expect(document["error"] == nil && document["fault"] == nil && document["throttle"] == nil && document["cause"] == nil)
        #expect(document["http"] == .object(["response": .object(["status": .int(200)])]))
    }

    @Test func failuresCarryTheirFlagsAndCause() throws {
        let fault = try checkedDocument(Self.subsegment(.fault, error: "UpstreamUnavailable"))
        #expect(fault["fault"] == .bool(true) && fault["error"] == nil)
        guard case .array(let exceptions)? = fault["cause"]?["exceptions"], let exception = exceptions.first else {
            Issue.record("no cause")
            return
        }
        #expect(exception["type"] == .string("UpstreamUnavailable"))
        #expect(exception["message"] == .string("SageMaker failed: \"UpstreamUnavailable\""))
        #expect(exception["remote"] == .bool(true))

        let throttled = try checkedDocument(Self.subsegment(.clientError(throttled: true), error: "Throttled"))
        #expect(throttled["error"] == .bool(true) && throttled["throttle"] == .bool(true) && throttled["fault"] == nil)
    }

    @Test func timesAreWrittenInPlainDecimalToTheMicrosecond() {
        #expect(Subsegment.seconds(1_796_694_712.000_25) == "1796694712.000250")
        #expect(Subsegment.seconds(1) == "1.000000")
    }
}

@Suite struct UDPSenderTests {
    /// A loopback socket on a free port, standing in for the X-Ray daemon.
    final class Listener {
        let descriptor: Int32
        let port: UInt16

        init() throws {
            let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            self.descriptor = descriptor
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
            }
            try #require(bound)
            port = UInt16(bigEndian: address.sin_port)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(descriptor) }

        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            return count < 0 ? nil : String(decoding: buffer[0..<count], as: UTF8.self)
        }
    }

    @Test func sendsOneDatagramPerDocumentToTheDaemon() throws {
        let listener = try Listener()
        let sender = try UDPSender(address: "127.0.0.1:\(listener.port)")
        let subsegment = SubsegmentTests.subsegment(.fault, error: "Timeout")
        #expect(sender.send(subsegment.datagram))
        #expect(listener.receive() == subsegment.datagram)
    }

    @Test func takesTheUDPPartOfTheDaemonsTwoProtocolForm() throws {
        let listener = try Listener()
        let sender = try UDPSender(address: "tcp:127.0.0.1:9 udp:127.0.0.1:\(listener.port)")
        #expect(sender.send("x"))
        #expect(listener.receive() == "x")
    }

    @Test(arguments: ["", "169.254.79.129", "localhost:2000", "127.0.0.1:0", "127.0.0.1:70000", "::1:2000", "1.2.3.4:20x"])
    func refusesWhatIsNotAnIPv4AddressAndPort(address: String) {
        #expect(throws: UDPSenderError.invalidAddress(address)) { try UDPSender(address: address) }
    }
}
