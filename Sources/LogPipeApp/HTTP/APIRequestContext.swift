import Hummingbird
import LogPipeCore
import NIOCore

/// The request context of the API's routes: Hummingbird's core context, the connection the request came on
/// (the client's address, its share of the body budget, whether it went away), and what the middleware
/// established before a handler runs (APIMiddleware.swift).
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// When the request's head arrived: the receive time of every log it carries.
    let receivedAt: UnixTime
    /// The request's id, on every answer (``APIErrorMiddleware``, first on every route).
    var requestID = ""
    /// The write routes (``WriteAccessMiddleware``): the API key's grant when keys are configured (nil: every
    /// tenant may write), and what the request holds of the body budget until it is answered.
    var grant: APIKeyTable.Entry?
    var charge: BodyCharge?
    /// The read routes (``ReadAccessMiddleware``): the one tenant the request may read.
    var readTenant: TenantID?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        receivedAt = .now
    }

    /// The peer's address (thread-safe: NIO caches it when the connection is accepted).
    public var remoteAddress: SocketAddress? { channel.remoteAddress }

    /// Whether the client has gone away: its connection is closed, so nothing it asked for is wanted any more.
    var clientGone: Bool { !channel.isActive }

    /// Who the request belongs to for fairness: its API key when it has one, else its peer's address.
    var budgetClient: BodyBudget.Client {
        if let grant, grant.hash.count >= 16 {
            return grant.hash.withUnsafeBytes {
                BodyBudget.Client(high: $0.loadUnaligned(as: UInt64.self) | 1, low: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
        }
        return BodyBudget.Client(peer: remoteAddress)
    }
}

extension BodyBudget.Client {
    /// A peer's address as a client: IPv4 and IPv6 addresses by their bytes (the low bit of `high` is
    /// always clear for addresses and set for keys); anything else is one client.
    init(peer: SocketAddress?) {
        switch peer {
        case .v4(let address)?:
            self.init(high: 4 << 1, low: UInt64(address.address.sin_addr.s_addr))
        case .v6(let address)?:
            let bytes = withUnsafeBytes(of: address.address.sin6_addr) {
                ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
            self.init(high: bytes.0 & ~1, low: bytes.1)
        default:
            self.init(high: 0, low: 0)
        }
    }
}
