import CRabbitMQ
import Glibc

/// One rabbitmq-c connection: the only type that calls into rabbitmq-c.
///
/// Not thread-safe and every call may block: it is created, used and destroyed on the one thread of the
/// ``ConnectionLoop`` that owns it, and never escapes that thread. No C type leaves this file's types.
final class RawConnection {
    /// Channel 1 publishes in confirm mode; channel 2 runs ad-hoc RPCs (declare, get, purge); consumers
    /// get channels from 3 up.
    static let publishChannel: UInt16 = 1
    static let rpcChannel: UInt16 = 2

    private let state: amqp_connection_state_t
    private var openChannels: Set<UInt16> = []
    private var destroyed = false
    /// Messages being assembled from their frames, by channel (see RawConnection+Events.swift).
    var partials: [UInt16: PartialContent] = [:]

    /// Opens the socket to `endpoint`, logs in and opens the publishing channel in confirm mode.
    init(configuration: AMQPConfiguration, endpoint: AMQPEndpoint) throws {
        guard let state = amqp_new_connection() else {
            throw AMQPError(.library, "amqp_new_connection failed")
        }
        self.state = state
        do {
            try connect(configuration, endpoint)
        } catch {
            destroy()
            throw error
        }
    }

    deinit { destroy() }

    private func connect(_ configuration: AMQPConfiguration, _ endpoint: AMQPEndpoint) throws {
        let socket = endpoint.tls ? try tlsSocket(configuration.tls) : amqp_tcp_socket_new(state)
        guard let socket else {
            throw AMQPError(.library, "amqp_tcp_socket_new failed")
        }
        var timeout = timeval(configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            if endpoint.tls, Self.isTLSFailure(status) {
                throw AMQPError(.tlsFailed, "TLS to \(endpoint.address) failed: \(Self.statusText(status))\(Self.tlsHint(status, configuration.tls))")
            }
            throw AMQPError(.connectFailed, "cannot reach \(endpoint.address): \(Self.statusText(status))")
        }
        _ = amqp_set_handshake_timeout(state, &timeout)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        // rabbitmq-c merges these capabilities with its own; `connection.blocked` makes the broker tell us
        // about resource alarms (so the API answers 503 instead of waiting for confirms that cannot come), and
        // `consumer_cancel_notify` about subscriptions it ends (queue deleted, its node lost), which are resumed.
        let capabilities: [String: AMQPFieldValue] = ["connection.blocked": .bool(true), "consumer_cancel_notify": .bool(true)]
        var properties = arena.table([
            "connection_name": .string(configuration.connectionName),
            "product": .string("logpipe"), "capabilities": .table(capabilities),
        ])
        let reply = logpipe_amqp_login_plain(
            state, endpoint.virtualHost, 2047, 131_072,
            Int32(configuration.heartbeatSeconds), &properties,
            endpoint.user, endpoint.password)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            // Under TLS 1.3 a broker refuses a client certificate (or its absence) after the handshake: the
            // client sees the connection end during login, not a refused login.
            if endpoint.tls, reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION,
                Self.isTLSFailure(reply.library_error)
                    || reply.library_error == AMQP_STATUS_CONNECTION_CLOSED.rawValue || reply.library_error == AMQP_STATUS_SOCKET_ERROR.rawValue
            {
                throw AMQPError(
                    .tlsFailed,
                    "TLS to \(endpoint.address): the broker ended the connection during login (\(Self.replyText(reply))): it may require a client certificate (LOGPIPE_AMQP_CERT_FILE and LOGPIPE_AMQP_KEY_FILE) or refuse this one"
                )
            }
            // Never include the password; the user and vhost help an operator.
            throw AMQPError(
                .connectFailed,
                "login as '\(endpoint.user)' to vhost '\(endpoint.virtualHost)' on \(endpoint.address) refused or failed: \(Self.replyText(reply))")
        }
        var rpcTimeout = timeval(configuration.rpcTimeout)
        _ = amqp_set_rpc_timeout(state, &rpcTimeout)
        try openChannel(Self.publishChannel)
        amqp_confirm_select(state, Self.publishChannel)
        try check(amqp_get_rpc_reply(state), "confirm.select")
    }

    /// An OpenSSL socket (rabbitmq-c's): the trusted authorities, the client certificate if any, and peer and
    /// host-name verification unless turned off. Its reads and writes block like the plain socket's, on this
    /// connection's own thread.
    private func tlsSocket(_ options: AMQPTLSOptions) throws -> OpaquePointer? {
        guard let socket = amqp_ssl_socket_new(state) else {
            throw AMQPError(.library, "amqp_ssl_socket_new failed")
        }
        // TLS 1.2 and later only (as the HTTPS listener).
        guard amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST) == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.tlsFailed, "this OpenSSL cannot be limited to TLS 1.2 and later")
        }
        let authorities = options.caFile ?? AMQPTLSOptions.systemTrustStore
        if options.verify || options.caFile != nil {
            guard amqp_ssl_socket_set_cacert(socket, authorities) == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(.tlsFailed, "cannot load the certificate authorities from \(authorities) (PEM expected; set LOGPIPE_AMQP_CA_FILE)")
            }
        }
        if let certificate = options.certificateFile, let key = options.keyFile {
            // An empty passphrase: an encrypted key fails to load instead of OpenSSL prompting on a terminal
            // (which would block this thread). Keys must be unencrypted PEM files, readable only by logpipe.
            amqp_ssl_socket_set_key_passwd(socket, "")
            guard amqp_ssl_socket_set_key(socket, certificate, key) == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(.tlsFailed, "cannot load the client certificate \(certificate) with its key \(key) (PEM, and the key must match)")
            }
        }
        amqp_ssl_socket_set_verify_peer(socket, options.verify ? 1 : 0)
        amqp_ssl_socket_set_verify_hostname(socket, options.verify ? 1 : 0)
        return socket
    }

    static func isTLSFailure(_ status: Int32) -> Bool {
        [
            AMQP_STATUS_SSL_ERROR, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED, AMQP_STATUS_SSL_PEER_VERIFY_FAILED,
            AMQP_STATUS_SSL_CONNECTION_FAILED,
        ].map(\.rawValue).contains(status)
    }

    /// What to check, for the failures an operator can fix.
    static func tlsHint(_ status: Int32, _ options: AMQPTLSOptions) -> String {
        switch status {
        case AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue:
            " (the broker's certificate does not chain to \(options.caFile ?? "the system trust store"): set LOGPIPE_AMQP_CA_FILE to its CA)"
        case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue:
            " (the broker's certificate does not name this host: connect with a name it holds)"
        case AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue:
            " (the handshake failed: not a TLS port, no common protocol, or the broker wants a client certificate: LOGPIPE_AMQP_CERT_FILE and LOGPIPE_AMQP_KEY_FILE)"
        default: ""
        }
    }

    /// Closes the connection politely if it is still healthy, then frees it. Idempotent.
    func destroy(polite: Bool = false) {
        guard !destroyed else { return }
        destroyed = true
        if polite { _ = amqp_connection_close(state, 200) }
        amqp_destroy_connection(state)
    }

    // MARK: - Readiness for the event loop

    /// The socket to poll for readability.
    var socketDescriptor: Int32 { amqp_get_sockfd(state) }

    /// True when rabbitmq-c already holds bytes or decoded frames that a poll on the socket would not see.
    var hasBufferedInput: Bool { amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 }

    // MARK: - Channels

    func openChannel(_ channel: UInt16) throws {
        amqp_channel_open(state, channel)
        try check(amqp_get_rpc_reply(state), "channel.open")
        openChannels.insert(channel)
    }

    func markClosed(_ channel: UInt16) {
        openChannels.remove(channel)
    }

    /// Closes a channel (its unacked deliveries return to their queues); errors are ignored.
    func closeChannel(_ channel: UInt16) {
        guard openChannels.remove(channel) != nil else { return }
        _ = amqp_channel_close(state, channel, 200)
    }

    func ensureOpen(_ channel: UInt16) throws {
        if !openChannels.contains(channel) { try openChannel(channel) }
    }

    // MARK: - Publishing

    /// Writes one `basic.publish` (method, header and body frames) to the socket.
    func publish(
        exchange: String, routingKey: String, mandatory: Bool, properties: AMQPProperties,
        body: [UInt8]
    ) throws {
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        var props = arena.properties(properties)
        let status = body.withUnsafeBytes { buffer in
            let bytes = amqp_bytes_t(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
            return amqp_basic_publish(
                state, Self.publishChannel, arena.bytes(exchange), arena.bytes(routingKey),
                mandatory ? 1 : 0, 0, &props, bytes)
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "publish failed: \(Self.statusText(status))")
        }
    }

    // MARK: - RPCs on the RPC channel

    func declare(_ topology: AMQPTopology) throws {
        try ensureOpen(Self.rpcChannel)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        for exchange in topology.exchanges {
            amqp_exchange_declare(
                state, Self.rpcChannel, arena.bytes(exchange.name), arena.bytes(exchange.type),
                0, exchange.durable ? 1 : 0, 0, 0, arena.table(exchange.arguments))
            try mismatchExplained(exchange: exchange.name) {
                try check(amqp_get_rpc_reply(state), "exchange.declare \(exchange.name)", channel: Self.rpcChannel)
            }
        }
        for queue in topology.queues {
            amqp_queue_declare(
                state, Self.rpcChannel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0, 0, 0,
                arena.table(queue.arguments))
            try mismatchExplained(queue: queue.name) {
                try check(amqp_get_rpc_reply(state), "queue.declare \(queue.name)", channel: Self.rpcChannel)
            }
        }
        for binding in topology.bindings {
            switch binding.destination {
            case .queue(let queue):
                amqp_queue_bind(
                    state, Self.rpcChannel, arena.bytes(queue), arena.bytes(binding.exchange),
                    arena.bytes(binding.routingKey), amqp_empty_table)
                try check(amqp_get_rpc_reply(state), "queue.bind \(queue)", channel: Self.rpcChannel)
            case .exchange(let exchange):
                amqp_exchange_bind(
                    state, Self.rpcChannel, arena.bytes(exchange), arena.bytes(binding.exchange),
                    arena.bytes(binding.routingKey), amqp_empty_table)
                try check(amqp_get_rpc_reply(state), "exchange.bind \(exchange)", channel: Self.rpcChannel)
            }
        }
    }

    /// A declaration the broker refuses with 406 PRECONDITION_FAILED names something that exists with another
    /// type or other arguments: neither can change in place, so the error says what an operator can do.
    private func mismatchExplained(queue: String? = nil, exchange: String? = nil, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as AMQPError where error.code == .serverException && error.replyCode == 406 {
            let remedy =
                if let queue {
                    "a queue's type and arguments cannot change once it exists: move its messages elsewhere and delete it "
                        + "(rabbitmqctl delete_queue \(queue)) so that it is declared anew, or configure the arguments it has"
                } else {
                    "an exchange's type and arguments cannot change once it exists: delete it (rabbitmqadmin delete exchange "
                        + "name=\(exchange ?? "")) so that it is declared anew, or configure what it has"
                }
            throw AMQPError(.topologyMismatch, "\(error.reason); \(remedy)", replyCode: 406)
        }
    }

    func queueStatus(_ name: String) throws -> AMQPQueueStatus {
        try ensureOpen(Self.rpcChannel)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        let ok = amqp_queue_declare(state, Self.rpcChannel, arena.bytes(name), 1, 0, 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(state), "queue.declare (passive) \(name)", channel: Self.rpcChannel)
        guard let ok else { throw AMQPError(.library, "queue.declare-ok missing") }
        return AMQPQueueStatus(messageCount: ok.pointee.message_count, consumerCount: ok.pointee.consumer_count)
    }

    func purge(_ name: String) throws -> UInt32 {
        try ensureOpen(Self.rpcChannel)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        let ok = amqp_queue_purge(state, Self.rpcChannel, arena.bytes(name))
        try check(amqp_get_rpc_reply(state), "queue.purge \(name)", channel: Self.rpcChannel)
        return ok?.pointee.message_count ?? 0
    }

    func deleteQueue(_ name: String) throws {
        try ensureOpen(Self.rpcChannel)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        amqp_queue_delete(state, Self.rpcChannel, arena.bytes(name), 0, 0)
        try check(amqp_get_rpc_reply(state), "queue.delete \(name)", channel: Self.rpcChannel)
    }

    func deleteExchange(_ name: String) throws {
        try ensureOpen(Self.rpcChannel)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        amqp_exchange_delete(state, Self.rpcChannel, arena.bytes(name), 0)
        try check(amqp_get_rpc_reply(state), "exchange.delete \(name)", channel: Self.rpcChannel)
    }

    /// `basic.get` with manual acknowledgement; the delivery is acked or nacked on the RPC channel.
    func get(_ queue: String, generation: UInt64) throws -> AMQPDelivery? {
        try ensureOpen(Self.rpcChannel)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        let reply = amqp_basic_get(state, Self.rpcChannel, arena.bytes(queue), 0)
        try check(reply, "basic.get \(queue)", channel: Self.rpcChannel)
        guard reply.reply.id == Method.basicGetOK,
            let ok = reply.reply.decoded?.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        else { return nil }
        var message = amqp_message_t()
        try check(amqp_read_message(state, Self.rpcChannel, &message, 0), "basic.get content", channel: Self.rpcChannel)
        defer { amqp_destroy_message(&message) }
        var delivery = AMQPDelivery(
            body: message.body.array, properties: AMQPProperties(message.properties),
            exchange: ok.exchange.string, routingKey: ok.routing_key.string, redelivered: ok.redelivered != 0,
            deliveryTag: ok.delivery_tag,
            receipt: AMQPReceipt(generation: generation, channel: Self.rpcChannel, deliveryTag: ok.delivery_tag))
        delivery.messageCount = ok.message_count
        return delivery
    }

    // MARK: - Consuming and acknowledging

    func consume(channel: UInt16, queue: String, prefetch: UInt16, tag: String) throws {
        try ensureOpen(channel)
        amqp_basic_qos(state, channel, 0, prefetch, 0)
        try check(amqp_get_rpc_reply(state), "basic.qos", channel: channel)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        amqp_basic_consume(state, channel, arena.bytes(queue), arena.bytes(tag), 0, 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(state), "basic.consume \(queue)", channel: channel)
    }

    func ack(channel: UInt16, deliveryTag: UInt64, multiple: Bool) throws {
        let status = amqp_basic_ack(state, channel, deliveryTag, multiple ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "basic.ack failed: \(Self.statusText(status))")
        }
    }

    func nack(channel: UInt16, deliveryTag: UInt64, multiple: Bool, requeue: Bool) throws {
        let status = amqp_basic_nack(state, channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "basic.nack failed: \(Self.statusText(status))")
        }
    }

    // MARK: - Errors

    /// Turns an RPC reply into a thrown error. A channel exception answers `channel.close-ok` and marks the
    /// channel closed (it is reopened on next use); a connection exception is `connectionLost`.
    func check(_ reply: amqp_rpc_reply_t, _ what: String, channel: UInt16? = nil) throws {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == Method.channelClose, let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_channel_close_t.self).pointee {
                let ch = channel ?? Self.rpcChannel
                var closeOK = amqp_channel_close_ok_t(dummy: 0)
                _ = amqp_send_method(state, ch, Method.channelCloseOK, &closeOK)
                openChannels.remove(ch)
                throw AMQPError(.serverException, "\(what): \(close.reply_text.string)", replyCode: close.reply_code)
            }
            if reply.reply.id == Method.connectionClose, let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_connection_close_t.self).pointee {
                var closeOK = amqp_connection_close_ok_t(dummy: 0)
                _ = amqp_send_method(state, 0, Method.connectionCloseOK, &closeOK)
                throw AMQPError(.connectionLost, "\(what): broker closed the connection: \(close.reply_text.string)", replyCode: close.reply_code)
            }
            throw AMQPError(.serverException, "\(what): unexpected server method \(reply.reply.id)")
        default:
            throw AMQPError(.connectionLost, "\(what): \(Self.replyText(reply))")
        }
    }

    static func statusText(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }

    static func replyText(_ reply: amqp_rpc_reply_t) -> String {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION: statusText(reply.library_error)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == Method.connectionClose, let close = reply.reply.decoded?.assumingMemoryBound(to: amqp_connection_close_t.self).pointee {
                "\(close.reply_code) \(close.reply_text.string)"
            } else {
                "server exception \(reply.reply.id)"
            }
        default: "no reply"
        }
    }

    // Accessors for RawConnection+Events.swift.
    var handle: amqp_connection_state_t { state }
}

/// AMQP method ids (the C macros are casts, which Swift does not import).
enum Method {
    static let connectionClose: amqp_method_number_t = 0x000A_0032
    static let connectionCloseOK: amqp_method_number_t = 0x000A_0033
    static let connectionBlocked: amqp_method_number_t = 0x000A_003C
    static let connectionUnblocked: amqp_method_number_t = 0x000A_003D
    static let channelClose: amqp_method_number_t = 0x0014_0028
    static let channelCloseOK: amqp_method_number_t = 0x0014_0029
    static let basicCancel: amqp_method_number_t = 0x003C_001E
    static let basicReturn: amqp_method_number_t = 0x003C_0032
    static let basicDeliver: amqp_method_number_t = 0x003C_003C
    static let basicGetOK: amqp_method_number_t = 0x003C_0047
    static let basicAck: amqp_method_number_t = 0x003C_0050
    static let basicNack: amqp_method_number_t = 0x003C_0078
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
