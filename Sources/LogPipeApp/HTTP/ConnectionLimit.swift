import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Counts the API's open connections, in all and per peer address, against `LOGPIPE_MAX_CONNECTIONS` and
/// `LOGPIPE_MAX_CONNECTIONS_PER_CLIENT` (0: no limit). Sockets are file descriptors: without a cap, idle
/// connections exhaust them and the process can no longer accept, reach the broker or open its store.
final class ConnectionLimiter: Sendable {
    let maxConnections: Int
    let maxPerClient: Int
    private let state = Mutex<(total: Int, perClient: [BodyBudget.Client: Int])>((0, [:]))

    init(maxConnections: Int, maxPerClient: Int) {
        self.maxConnections = maxConnections
        self.maxPerClient = maxPerClient
    }

    /// Takes a place for a connection from `peer`; false when it must be refused.
    func admit(_ peer: BodyBudget.Client) -> Bool {
        state.withLock { state in
            guard maxConnections == 0 || state.total < maxConnections else { return false }
            let mine = state.perClient[peer, default: 0]
            guard maxPerClient == 0 || mine < maxPerClient else { return false }
            state.total += 1
            state.perClient[peer] = mine + 1
            return true
        }
    }

    func release(_ peer: BodyBudget.Client) {
        state.withLock { state in
            state.total -= 1
            let left = state.perClient[peer, default: 1] - 1
            state.perClient[peer] = left > 0 ? left : nil
        }
    }

    /// Connections open now (for tests and metrics).
    var open: Int { state.withLock { $0.total } }
}

/// A server child channel that refuses connections over the ``ConnectionLimiter``'s caps with a 503
/// `too_many_connections` (and `Connection: close`, `Retry-After`), then closes them; the others go to `base`.
/// The refusal is written between the transport (TLS, when there is one) and the HTTP codec, and the refused
/// connection's input is dropped, so no route ever runs for it.
struct ConnectionLimitChannel<Base: ServerChildChannel & HTTPChannelHandler>: ServerChildChannel, HTTPChannelHandler {
    typealias Value = Base.Value
    let base: Base
    let limiter: ConnectionLimiter
    let onRefused: @Sendable () -> Void

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let peer = BodyBudget.Client(peer: channel.remoteAddress)
        if limiter.admit(peer) {
            channel.closeFuture.whenComplete { _ in limiter.release(peer) }
        } else {
            onRefused()
            do {
                try channel.pipeline.syncOperations.addHandler(RefusingHandler())
            } catch {
                channel.close(promise: nil)
            }
        }
        // Set up as usual either way: a failed set-up would end the server's accept loop.
        return base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    var responder: HTTPChannelHandler.Responder { base.responder }
}

/// Answers a refused connection and closes it, dropping whatever it sends.
final class RefusingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let response: String = {
        let body =
            #"{"error":{"code":"too_many_connections","message":"the server holds as many connections as it may; retry later or reuse a connection"},"request_id":"-"}"#
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }()

    private var answered = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { answer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        answer(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func answer(_ context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        let channel = context.channel
        let buffer = channel.allocator.buffer(string: Self.response)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 (over TLS with certificates from `tls`, when given) with the connection caps of `limiter`.
    static func limited(
        _ configuration: HTTP1Channel.Configuration, tls: TLSCertificateStore?, limiter: ConnectionLimiter,
        onRefused: @escaping @Sendable () -> Void
    ) -> HTTPServerBuilder {
        .init { responder in
            let limited = ConnectionLimitChannel(
                base: HTTP1Channel(responder: responder, configuration: configuration), limiter: limiter, onRefused: onRefused)
            guard let tls else { return limited }
            return ReloadingTLSChannel(base: limited, store: tls)
        }
    }
}
