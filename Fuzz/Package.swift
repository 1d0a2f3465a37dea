// swift-tools-version: 6.0
import PackageDescription

// libFuzzer targets, kept out of the main package: they have no `main` and only link with
// `-sanitize=fuzzer`. Build and run them with `make fuzz` (tools/fuzz.sh).
let package = Package(
    name: "SummarizerFuzz",
    dependencies: [.package(name: "SageMakerSummarizer", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzEvents", dependencies: ["FuzzDriver", .product(name: "SummarizerCore", package: "SageMakerSummarizer")]),
        .executableTarget(name: "FuzzPayload", dependencies: ["FuzzDriver", .product(name: "SummarizerCore", package: "SageMakerSummarizer")]),
        .executableTarget(name: "FuzzBase64", dependencies: ["FuzzDriver", .product(name: "SummarizerCore", package: "SageMakerSummarizer")]),
        .executableTarget(name: "FuzzSageMakerError", dependencies: ["FuzzDriver", .product(name: "SummarizerCore", package: "SageMakerSummarizer")]),
        .executableTarget(name: "FuzzRuntimeHeaders", dependencies: ["FuzzDriver", .product(name: "SummarizerCore", package: "SageMakerSummarizer")]),
        .executableTarget(name: "FuzzErrorText", dependencies: ["FuzzDriver", .product(name: "SummarizerCore", package: "SageMakerSummarizer")]),
    ],
    swiftLanguageModes: [.v6]
)
