#if canImport(Glibc)
import Glibc
#endif

/// Why the X-Ray daemon address cannot be used.
public enum UDPSenderError: Error, Equatable, CustomStringConvertible {
    case invalidAddress(String)
    case socket(errno: Int32)

    public var description: String {
        switch self {
        case .invalidAddress(let text): "\"\(text)\" is not an IPv4 address and port (host:port)"
        case .socket(let code): "cannot open a UDP socket (errno \(code))"
        }
    }
}

/// Datagrams to one IPv4 address: the thin wrapper over the socket calls that the X-Ray daemon
/// needs. A send never blocks and never fails the caller: a lost trace is better than a slow
/// answer, and UDP promises no delivery anyway.
///
/// A reference type because it owns the socket, which `deinit` closes; each worker's handler has
/// its own.
public final class UDPSender {
    private let socketDescriptor: Int32
    private var address: sockaddr_in

    /// `text` is `host:port`, or the daemon's `tcp:host:port udp:host:port` form (the UDP part is used).
    public init(address text: String) throws(UDPSenderError) {
        let udpPart = text.split(separator: " ").first { $0.hasPrefix("udp:") }.map { String($0.dropFirst(4)) } ?? text
        let parts = udpPart.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = UInt16(parts[1]), port > 0 else { throw .invalidAddress(text) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, String(parts[0]), &address.sin_addr) == 1 else { throw .invalidAddress(text) }
        self.address = address
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { throw .socket(errno: errno) }
        socketDescriptor = descriptor
    }

    deinit {
        close(socketDescriptor)
    }

    /// Sends `text` as one datagram; `false` when the kernel did not take it.
    @discardableResult
    public func send(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(socketDescriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT),
                           socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size)) == bytes.count
                }
            }
        }
    }
}
