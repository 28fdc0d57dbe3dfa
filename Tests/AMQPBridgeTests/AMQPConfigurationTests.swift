import AMQPBridge
import Testing

@Suite("AMQP URLs")
struct AMQPConfigurationTests {
    @Test("full URL with percent-escapes")
    func full() throws {
        let configuration = try AMQPConfiguration(url: "amqp://us%40er:p%3Ass@broker.local:5673/my%2Fvhost")
        #expect(configuration.user == "us@er")
        #expect(configuration.password == "p:ss")
        #expect(configuration.host == "broker.local")
        #expect(configuration.port == 5673)
        #expect(configuration.virtualHost == "my/vhost")
        #expect(!configuration.redactedURL.contains("p:ss") && !configuration.redactedURL.contains("p%3Ass"))
    }

    @Test("defaults: guest, port 5672, vhost /")
    func defaults() throws {
        let configuration = try AMQPConfiguration(url: "amqp://127.0.0.1")
        #expect(configuration.user == "guest" && configuration.password == "guest")
        #expect(configuration.port == 5672)
        #expect(configuration.virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://h/").virtualHost == "/")
        #expect(try AMQPConfiguration(url: "amqp://h/%2F").virtualHost == "/")
    }

    @Test("a comma-separated list names the nodes of a cluster, in order, each with its own credentials")
    func list() throws {
        let configuration = try AMQPConfiguration(url: "amqp://a:pa@n1:5672/v, amqp://b:p%2Cb@n2:5673/v,amqp://[::1]:5674/v")
        #expect(configuration.endpoints.map(\.address) == ["n1:5672", "n2:5673", "[::1]:5674"])
        #expect(configuration.endpoints[1].password == "p,b")
        #expect(configuration.host == "n1" && configuration.user == "a")
        #expect(configuration.redactedURL == "amqp://a@n1:5672/v,amqp://b@n2:5673/v,amqp://guest@[::1]:5674/v")
        #expect(!configuration.redactedURL.contains("pa") && !configuration.redactedURL.contains("p,b"))
    }

    @Test(
        "amqps:// is TLS on port 5671 unless the URL says otherwise; a list is all amqps or all amqp (no failover from TLS to plain); the redacted URL keeps the scheme"
    )
    func amqps() throws {
        let configuration = try AMQPConfiguration(url: "amqps://u:secret@broker.example.com/prod,AMQPS://u:secret@b2:5999")
        #expect(configuration.endpoints.map(\.tls) == [true, true])
        #expect(configuration.endpoints.map(\.port) == [5671, 5999])
        #expect(configuration.endpoints[0].virtualHost == "prod")
        #expect(configuration.redactedURL == "amqps://u@broker.example.com:5671/prod,amqps://u@b2:5999/")
        #expect(!configuration.redactedURL.contains("secret"))
        #expect(configuration.tls.verify && configuration.tls.caFile == nil && !configuration.skipsTLSVerification)
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqps://u:p@a/,amqp://u:p@b/") }
        #expect(try !AMQPConfiguration(url: "amqp://a/,amqp://b/").endpoints.contains(where: \.tls))
    }

    @Test(
        "bad URLs are configuration errors",
        arguments: [
            "http://h/", "amqpss://h/", "amqp://h:0/", "amqp://h:99999/", "amqp://h:x/", "amqp://u:%zz@h/",
            "amqp://h/,", "amqp://h/,,amqp://g/", "amqp://h/,http://g/",
        ])
    func invalid(_ url: String) {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: url) }
    }
}
