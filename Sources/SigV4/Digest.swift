import CCrypto

/// SHA-256 and HMAC-SHA-256 from libcrypto: the only code that touches OpenSSL.
public enum Digest {
    /// Fetched once. OpenSSL 3's one-shot `SHA256()` and `HMAC()` look the algorithm up by name
    /// on every call, which cost more than hashing a whole article. An `EVP_MD` is immutable and
    /// reference-counted inside libcrypto, so sharing it between threads is safe.
    nonisolated(unsafe) private static let sha256Algorithm = EVP_MD_fetch(nil, "SHA256", nil)

    public static func sha256<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        if let digest = bytes.withContiguousStorageIfAvailable({ sha256(UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(bytes).withUnsafeBytes { sha256($0) }
    }

    static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        var length: UInt32 = 0
        _ = EVP_Digest(bytes.baseAddress, bytes.count, &output, &length, sha256Algorithm, nil)
        return output
    }

    public static func hmacSHA256(key: [UInt8], data: some StringProtocol) -> [UInt8] {
        var message = String(data)
        return message.withUTF8 { hmacSHA256(key: key, bytes: $0) }
    }

    /// HMAC as RFC 2104 defines it, on the digest above: H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)).
    public static func hmacSHA256(key: [UInt8], bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        let blockSize = 64
        var block = key.count > blockSize ? sha256(key) : key
        block.append(contentsOf: repeatElement(0, count: blockSize - block.count))
        var inner = block.map { $0 ^ 0x36 }
        inner.append(contentsOf: bytes)
        var outer = block.map { $0 ^ 0x5c }
        outer.append(contentsOf: sha256(inner))
        return sha256(outer)
    }

    /// Lower-case hex. Concrete `[UInt8]`, not a generic sequence: called from other modules, a
    /// generic version ran unspecialised, one protocol call per byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = hexDigit(byte >> 4)
                out[2 * index + 1] = hexDigit(byte & 0x0f)
            }
            return bytes.count * 2
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
