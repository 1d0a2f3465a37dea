import CCrypto

/// SHA-256 and HMAC-SHA-256 from libcrypto: the only code that touches OpenSSL.
public enum Digest {
    public static func sha256<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let done: Void? = bytes.withContiguousStorageIfAvailable { input in
            _ = SHA256(input.baseAddress, input.count, &output)
        }
        if done == nil {
            let copy = Array(bytes)
            _ = SHA256(copy, copy.count, &output)
        }
        return output
    }

    public static func hmacSHA256(key: [UInt8], data: some StringProtocol) -> [UInt8] {
        var message = String(data)
        return message.withUTF8 { hmacSHA256(key: key, bytes: $0) }
    }

    public static func hmacSHA256(key: [UInt8], bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = HMAC(EVP_sha256(), key, Int32(key.count), bytes.baseAddress, bytes.count, &output, &length)
        return Array(output.prefix(Int(length)))
    }

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(hexDigit(byte >> 4))
            out.append(hexDigit(byte & 0x0f))
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
