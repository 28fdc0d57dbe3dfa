// swift-tools-version:6.1
import Foundation
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "logpipe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "logpipe", targets: ["logpipe"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // MARK: - C libraries from Debian (the only modules that import C)
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .systemLibrary(
            name: "CMongoC",
            pkgConfig: "libmongoc-1.0",
            providers: [.apt(["libmongoc-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CSnappy",
            pkgConfig: "snappy",
            providers: [.apt(["libsnappy-dev"])]
        ),

        // MARK: - Generic bridges: know nothing about tenants or logs
        .target(
            name: "AMQPBridge",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ZlibBridge",
            dependencies: ["CZlib"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SnappyBridge",
            dependencies: ["CSnappy"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MongoBridge",
            dependencies: [
                "CMongoC",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: - Pure Swift: records, validation, ids, errors (no I/O)
        .target(
            name: "LogPipeCore",
            swiftSettings: swiftSettings
        ),

        // MARK: - Composition: adapters, HTTP, commands
        .target(
            name: "LogPipeApp",
            dependencies: [
                "AMQPBridge",
                "MongoBridge",
                "LogPipeCore",
                "ShipperProtocols",
                "ZlibBridge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        // The shippers' wire formats (OTLP/HTTP logs, Loki push): generated protobuf code (Protos/, committed) and
        // their mapping to logs.
        .target(
            name: "ShipperProtocols",
            dependencies: ["LogPipeCore", "SnappyBridge", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "logpipe",
            dependencies: ["LogPipeApp"],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "logpipe-bench",
            dependencies: [
                "AMQPBridge",
                "LogPipeCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "http-floor",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "redaction-bench",
            dependencies: ["LogPipeCore"],
            swiftSettings: swiftSettings
        ),

        // MARK: - Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "CZlib",
                "LogPipeApp",
                "LogPipeCore",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LogPipeCoreTests",
            dependencies: ["LogPipeCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AMQPBridgeTests",
            dependencies: ["AMQPBridge", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MongoBridgeTests",
            dependencies: ["MongoBridge"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LogPipeAppTests",
            dependencies: [
                "LogPipeApp",
                "LogPipeCore",
                "AMQPBridge",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                "ZlibBridge",
                "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ShipperProtocolsTests",
            dependencies: ["LogPipeCore", "ShipperProtocols", "SnappyBridge", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "AMQPBridge",
                "MongoBridge",
                "LogPipeApp",
                "LogPipeCore",
                "ShipperProtocols",
                "SnappyBridge",
                "TestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// Fuzz targets (scripts/fuzz.sh): libFuzzer provides their entry point (`swift build --sanitize=fuzzer`), so
// they are in the package only when asked for, and build into a build folder of their own.
if ProcessInfo.processInfo.environment["LOGPIPE_FUZZ"] == "1" {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("fuzz-ingest", ["LogPipeCore"]), ("fuzz-work-message", ["LogPipeCore"]),
        ("fuzz-redactor", ["LogPipeCore"]), ("fuzz-gzip", ["ZlibBridge"]),
        ("fuzz-otlp", ["LogPipeCore", "ShipperProtocols"]), ("fuzz-loki", ["LogPipeCore", "ShipperProtocols", "SnappyBridge"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.products.append(.executable(name: name, targets: [name]))
        package.targets.append(
            .executableTarget(
                name: name, dependencies: dependencies, path: "Fuzz/\(name)", swiftSettings: swiftSettings))
    }
}
