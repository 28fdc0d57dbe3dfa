import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The API's certificate and key (`LOGPIPE_HTTP_TLS_CERT_FILE`, `LOGPIPE_HTTP_TLS_KEY_FILE`, PEM), loaded at start
/// and again on SIGHUP: new connections get the new certificate, open ones keep theirs. A file that does not
/// load leaves the previous certificate in use (and says so), so a half-written renewal never takes HTTPS down.
public final class TLSCertificateStore: Sendable {
    let certificateFile: String
    let keyFile: String
    private let context: Mutex<NIOSSLContext>

    public init(certificateFile: String, keyFile: String) throws(ConfigurationError) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.context = Mutex(try Self.load(certificateFile: certificateFile, keyFile: keyFile).context)
    }

    /// The context for a connection being accepted now.
    var current: NIOSSLContext { context.withLock { $0 } }

    /// Reads the files again; returns the number of certificates in the new chain.
    @discardableResult
    public func reload() throws(ConfigurationError) -> Int {
        let fresh = try Self.load(certificateFile: certificateFile, keyFile: keyFile)
        context.withLock { $0 = fresh.context }
        return fresh.chainLength
    }

    static func load(certificateFile: String, keyFile: String) throws(ConfigurationError) -> (context: NIOSSLContext, chainLength: Int) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw ConfigurationError(variable: "LOGPIPE_HTTP_TLS_CERT_FILE", message: "names \(certificateFile), which holds no PEM certificate")
        }
        guard !chain.isEmpty else {
            throw ConfigurationError(variable: "LOGPIPE_HTTP_TLS_CERT_FILE", message: "names \(certificateFile), which holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw ConfigurationError(variable: "LOGPIPE_HTTP_TLS_KEY_FILE", message: "names \(keyFile), which holds no PEM private key")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        do {
            return (try NIOSSLContext(configuration: configuration), chain.count)
        } catch {
            throw ConfigurationError(variable: "LOGPIPE_HTTP_TLS_KEY_FILE", message: "does not match the certificate in \(certificateFile)")
        }
    }
}

/// HTTP/1.1 behind TLS, with the context taken from the store for each accepted connection (so a reload applies
/// to the next connection).
struct ReloadingTLSChannel<Base: ServerChildChannel & HTTPChannelHandler>: ServerChildChannel, HTTPChannelHandler {
    typealias Value = Base.Value
    let base: Base
    let store: TLSCertificateStore

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: store.current))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    var responder: HTTPChannelHandler.Responder { base.responder }
}
