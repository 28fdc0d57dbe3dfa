import Dispatch
import Foundation
import Hummingbird

// The floor of the API's cost (docs/performance.md): the least a Hummingbird 2 server does for one log, beside
// which the benchmark states `logpipe api`'s instructions per log. `POST /ingest` collects the body, decodes its
// `tenant_id` and `text` with Foundation's JSONDecoder and answers 202 with a small JSON body; no validation, no
// broker, no limits. `GET /readiness` answers 200. Usage: `http-floor <port>`.

struct Log: Decodable {
    let tenantID: String
    let text: String

    enum CodingKeys: String, CodingKey {
        case tenantID = "tenant_id"
        case text
    }
}

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8090
let router = Router()
router.post("/ingest") { request, _ -> Response in
    let body = try await request.body.collect(upTo: 8 << 20)
    let log = try JSONDecoder().decode(Log.self, from: body)
    let answer = #"{"status":"accepted","tenant_id":"\#(log.tenantID)","bytes":\#(log.text.utf8.count)}"#
    return Response(
        status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
}
router.get("/readiness") { _, _ in "ready" }
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "http-floor"))

// The main thread waits instead of entering dispatch_main(), which valgrind 3.19 crashes on (as logpipe's main).
let done = DispatchSemaphore(value: 0)
Task.detached {
    do { try await app.runService() } catch { print("http-floor: \(error)") }
    done.signal()
}
done.wait()
