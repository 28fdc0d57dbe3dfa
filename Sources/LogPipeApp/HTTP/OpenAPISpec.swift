import Foundation
import HTTPTypes
import Hummingbird

/// The API's OpenAPI document (`openapi.yaml` at the repository root), served at `GET /openapi.yaml`.
/// It ships as the package resource `logpipe_LogPipeApp.resources/openapi.yaml` next to the executable.
enum OpenAPISpec {
    static let text: String? = {
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent("logpipe_LogPipeApp.resources/openapi.yaml"),
            URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
                .deletingLastPathComponent().appendingPathComponent("logpipe_LogPipeApp.resources/openapi.yaml"),
        ]
        return candidates.lazy.compactMap { try? String(contentsOf: $0, encoding: .utf8) }.first
    }()

    static func response(requestID: String) -> Response {
        guard let text else {
            return APIResponses.error(
                .init(.notFound, "the OpenAPI document is not installed next to the executable"),
                requestID: requestID)
        }
        return Response(
            status: .ok, headers: [.contentType: "application/yaml", APIResponses.requestIDHeader: requestID],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
