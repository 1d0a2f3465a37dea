// Base64 bodies, against Foundation's decoder, and the UTF-8 check of text bodies.
import Foundation
import FuzzDriver
@testable import LambdaEvents
@testable import Summarizer

@_cdecl("FuzzBase64_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { start, count in fuzzOne(UnsafeRawPointer(start) ?? UnsafeRawPointer(bitPattern: 1)!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let text = String(decoding: bytes, as: UTF8.self)

    // Our decoder gives what Foundation's gives, except where Foundation takes padding no encoder
    // writes (`QQ=A`, `QUJD=`, `====`): there encoding its answer again puts `=` elsewhere.
    let ours = Array(text.utf8).withUnsafeBufferPointer(Base64.decode)
    let theirs = Data(base64Encoded: text)
    switch (ours, theirs) {
    case (nil, nil):
        break
    case let (ours?, theirs?):
        guard ours == Array(theirs) else { fatalError("decoded differently from Foundation") }
    case (_?, nil):
        fatalError("accepted what Foundation refuses")
    case let (nil, theirs?):
        let again = theirs.base64EncodedString()
        let padding = { (text: String) in text.utf8.indices.filter { text.utf8[$0] == UInt8(ascii: "=") } }
        guard again.utf8.count != text.utf8.count || padding(again) != padding(text) else {
            fatalError("refused base64 that Foundation takes")
        }
    }

    // The body of an event goes the same way once its line breaks are dropped.
    let event = HTTPEvent(kind: .httpAPI, method: "POST", body: text, isBase64Encoded: true)
    let compact = text.utf8.filter { $0 != 0x0A && $0 != 0x0D }
    guard (try? event.decodedBody()) == compact.withUnsafeBufferPointer(Base64.decode) else {
        fatalError("decodedBody differs from decoding the body without line breaks")
    }

    // Any bytes as a base64 text body: the article is exactly those bytes, or refused (not
    // UTF-8, or blank); never text with U+FFFD where the bytes were not UTF-8.
    let textEvent = HTTPEvent(
        kind: .httpAPI, method: "POST", headers: ["content-type": "text/plain"],
        body: Data(bytes).base64EncodedString(), isBase64Encoded: true)
    do throws(Failure) {
        let request = try HTTPFront(cors: CORSPolicy()).payload(of: textEvent)
        guard case .single(let article) = request.inputs, Array(article.utf8) == bytes else {
            fatalError("the article is not the body as sent")
        }
    } catch .invalidText {
    } catch {
        fatalError("text body refused as \(error)")
    }
    return 0
}
