// swift-tools-version: 6.0
import PackageDescription

// No package dependencies, and no Foundation: the binary links only the Swift runtime (static),
// libcurl and libcrypto. Binary size and cold start are product features.
let package = Package(
    name: "SageMakerSummarizer",
    products: [
        .executable(name: "bootstrap", targets: ["bootstrap"]),
        // The modules behind the binary, for the fuzz targets in Fuzz/.
        .library(name: "SummarizerCore", targets: ["Summarizer", "LambdaEvents", "LambdaRuntime", "SageMakerRuntime", "CurlHTTP", "HTTP", "JSON", "Metrics", "Tracing"]),
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
        // HTTP messages, errors and the clocks time-outs are measured on: no C library.
        .target(name: "HTTP"),
        // JSON values, the strict parser and the one writer: the bottom of the layering.
        .target(name: "JSON"),
        // HTTPS to SageMaker over libcurl.
        .target(name: "CurlHTTP", dependencies: ["HTTP", "CCurl"]),
        .target(name: "SigV4", dependencies: ["CCrypto"]),
        // The Runtime API loop over its own plain socket: no libcurl.
        .target(name: "LambdaRuntime", dependencies: ["HTTP", "JSON"]),
        .target(name: "SageMakerRuntime", dependencies: ["HTTP", "CurlHTTP", "JSON", "SigV4"]),
        .target(name: "LambdaEvents", dependencies: ["JSON"]),
        // One EMF metrics record per invocation, written to standard output.
        .target(name: "Metrics", dependencies: ["JSON"]),
        // X-Ray trace headers and subsegment documents, sent over UDP to the daemon.
        .target(name: "Tracing", dependencies: ["JSON"]),
        .target(name: "Summarizer", dependencies: ["HTTP", "JSON", "LambdaRuntime", "LambdaEvents", "SageMakerRuntime", "SigV4", "Metrics", "Tracing"]),
        .executableTarget(name: "bootstrap", dependencies: ["LambdaRuntime", "Summarizer"]),

        // A scriptable loopback HTTP server shared by the unit tests (not part of the product).
        .target(name: "TestHTTPServer", path: "Tests/TestHTTPServer"),
        // Both HTTP clients, side by side: most of what they must do is the same.
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "CurlHTTP", "LambdaRuntime", "TestHTTPServer"]),
        .testTarget(name: "SigV4Tests", dependencies: ["SigV4"], exclude: ["Fixtures"]),
        .testTarget(name: "LambdaRuntimeTests", dependencies: ["HTTP", "JSON", "LambdaRuntime", "TestHTTPServer"]),
        .testTarget(name: "SageMakerRuntimeTests", dependencies: ["SageMakerRuntime", "HTTP"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "LambdaEventsTests", dependencies: ["JSON", "LambdaEvents"], exclude: ["Fixtures"]),
        .testTarget(name: "SummarizerTests", dependencies: ["JSON", "Summarizer", "LambdaEvents", "LambdaRuntime", "SageMakerRuntime", "Metrics", "Tracing"]),
        .testTarget(name: "MetricsTests", dependencies: ["JSON", "Metrics"]),
        .testTarget(name: "TracingTests", dependencies: ["JSON", "Tracing"]),
    ],
    swiftLanguageModes: [.v6]
)
