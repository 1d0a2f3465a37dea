// swift-tools-version: 6.0
import PackageDescription

// No package dependencies: the binary links only the Swift runtime (static), FoundationEssentials,
// libcurl and libcrypto. Binary size and cold start are product features.
let package = Package(
    name: "SageMakerSummarizer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bootstrap", targets: ["bootstrap"]),
        // The modules behind the binary, for the fuzz targets in Fuzz/.
        .library(name: "SummarizerCore", targets: ["Summarizer", "LambdaEvents", "LambdaRuntime", "SageMakerRuntime", "HTTPClient"]),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "HTTPClient", dependencies: ["CCurl"]),
        .target(name: "SigV4", dependencies: ["CCrypto"]),
        .target(name: "LambdaRuntime", dependencies: ["HTTPClient"]),
        .target(name: "SageMakerRuntime", dependencies: ["HTTPClient", "SigV4"]),
        .target(name: "LambdaEvents"),
        .target(name: "Summarizer", dependencies: ["HTTPClient", "LambdaRuntime", "LambdaEvents", "SageMakerRuntime"]),
        .executableTarget(name: "bootstrap", dependencies: ["Summarizer"]),

        // A scriptable loopback HTTP server shared by the unit tests (not part of the product).
        .target(name: "TestHTTPServer", path: "Tests/TestHTTPServer"),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient", "TestHTTPServer"]),
        .testTarget(name: "SigV4Tests", dependencies: ["SigV4"], exclude: ["Fixtures"]),
        .testTarget(name: "LambdaRuntimeTests", dependencies: ["LambdaRuntime", "TestHTTPServer"]),
        .testTarget(name: "SageMakerRuntimeTests", dependencies: ["SageMakerRuntime", "HTTPClient"]),
        .testTarget(name: "LambdaEventsTests", dependencies: ["LambdaEvents"], exclude: ["Fixtures"]),
        .testTarget(name: "SummarizerTests", dependencies: ["Summarizer"]),
    ],
    swiftLanguageModes: [.v6]
)
