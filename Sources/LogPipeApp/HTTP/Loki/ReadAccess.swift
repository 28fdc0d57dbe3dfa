import Foundation
import HTTPTypes
import LogPipeCore

/// Who may read which tenant's logs (docs/api.md, "Reading logs"): with API keys, the key's tenant, for a key
/// with the `read` scope (`X-Scope-OrgID` picks one of a key's several tenants); without keys, the tenant named
/// in `X-Scope-OrgID`, for clients on loopback or on `LOGPIPE_READ_ALLOWED_NETWORKS` only.
struct ReadAccess: Sendable {
    static let orgHeader = HTTPField.Name("X-Scope-OrgID")!

    let keys: APIKeyStore?
    let allowedNetworks: [IPNetwork]

    /// The tenant a request may read; `peer` is the client's address as NIO prints it.
    func tenant(headers: HTTPFields, peer: String?) throws(IngestError) -> TenantID {
        let named = headers.value(Self.orgHeader).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        if let keys {
            let entry = try keys.entry(authorization: headers.value(.authorization))
            guard entry.scopes.contains(.read) else {
                throw IngestError(.scopeNotAllowed, "this API key may not read logs (it has no read scope); make one with logpipe keys add --scope read")
            }
            if let named {
                let tenant = try Self.parse(named)
                guard entry.allows(tenant) else { throw IngestError(.tenantNotAllowed, "this API key may not read tenant '\(tenant)'") }
                return tenant
            }
            guard let only = entry.onlyTenant else {
                throw IngestError(.missingTenantID, "this API key may read several tenants: name one in X-Scope-OrgID")
            }
            return only
        }
        guard let peer, (IPNetwork.loopback + allowedNetworks).contains(where: { $0.contains(peer) }) else {
            throw IngestError(
                .readNotAllowed,
                "without API keys, logs may be read from loopback or LOGPIPE_READ_ALLOWED_NETWORKS only; configure keys with the read scope")
        }
        guard let named else { throw IngestError(.missingTenantID, "name the tenant to read in the X-Scope-OrgID header") }
        return try Self.parse(named)
    }

    static func parse(_ name: String) throws(IngestError) -> TenantID {
        guard let tenant = TenantID(name) else {
            throw IngestError(.invalidTenantID, "X-Scope-OrgID must be one tenant id (lowercase letters, digits, '_' and '-')")
        }
        guard !tenant.isReserved else { throw IngestError(.reservedTenant, "that tenant name is reserved") }
        return tenant
    }
}

extension APIKeyStore {
    /// The entry of the key in an `Authorization: Bearer <key>` header: 401 when it is missing or unknown.
    func entry(authorization header: String?) throws(IngestError) -> APIKeyTable.Entry {
        guard let header else { throw IngestError(.missingAPIKey, "this API requires a key: send Authorization: Bearer <key>") }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw IngestError(.missingAPIKey, "send the key as Authorization: Bearer <key>")
        }
        guard let entry = current.lookup(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw IngestError(.invalidAPIKey, "the API key is not valid (unknown or revoked)")
        }
        return entry
    }
}
