import HTTPTypes
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

extension HTTPServerBuilder {
    /// ``limited(_:tls:limiter:onRefused:)`` whose connections may also be upgraded to a WebSocket when `upgrade`
    /// says so (the read API's live tail); every other request is plain HTTP/1.1 as before.
    static func limited(
        _ configuration: HTTP1Channel.Configuration, tls: TLSCertificateStore?, limiter: ConnectionLimiter,
        onRefused: @escaping @Sendable () -> Void,
        upgrade: @escaping @Sendable (HTTPRequest, any Channel, Logger) -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>>
    ) -> HTTPServerBuilder {
        .init { responder in
            let channel = UpgradableHTTPChannel(
                base: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: .init(http1: configuration, ws: .init()), shouldUpgrade: upgrade),
                firstRequestTimeout: configuration.idleTimeout)
            let limited = ConnectionLimitChannel(base: channel, limiter: limiter, onRefused: onRefused)
            guard let tls else { return limited }
            return ReloadingTLSChannel(base: limited, store: tls)
        }
    }
}

/// hummingbird-websocket's HTTP/1.1 channel, made as strict as the plain one with clients that send garbage:
/// until it knows whether the first request upgrades, its pipeline has no handler for a request the HTTP decoder
/// refuses (a bad `Content-Length`, too many or too large headers), so the connection would wait forever, and no
/// idle timer, so a client that connects and sends nothing would keep its connection. Here a decoder error closes
/// the connection, so does a first request that has not arrived within the idle timeout (later ones have the plain
/// channel's idle timer), and a connection is closed once it has been handled.
struct UpgradableHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let base: HTTP1WebSocketUpgradeChannel
    let firstRequestTimeout: TimeAmount?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(FirstRequestGuard(timeout: firstRequestTimeout))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
        try? await value.channel.close()
    }

    var responder: HTTPChannelHandler.Responder { base.responder }
}

/// Closes the connection when the HTTP decoder refuses what the client sent, or when no complete request head has
/// arrived within `timeout` of the connection.
final class FirstRequestGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let timeout: TimeAmount?
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount?) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let timeout else { return }
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) {
            // An upgraded WebSocket (the tail) sends its first request to the upgrader, not here: it stays open.
            guard (try? channel.pipeline.syncOperations.handler(type: WebSocketFrameEncoder.self)) == nil else { return }
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        timer?.cancel()
        timer = nil
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError || error is ByteToMessageDecoderError {
            context.close(promise: nil)
        }
        context.fireErrorCaught(error)
    }
}
