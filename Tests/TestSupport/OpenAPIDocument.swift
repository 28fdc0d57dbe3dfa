import Foundation
import HTTPTypes
import Yams

/// The repository's `openapi.yaml`, and a checker of responses against it: the operation exists, the
/// status is documented, required headers are present, the content type is the documented one, and the
/// JSON body matches the schema (type, required, properties, additionalProperties, enum, oneOf, items,
/// nullable, minimum, minLength, $ref). Enough of JSON Schema for this API's spec, nothing more.
public struct OpenAPIDocument: @unchecked Sendable {
    public let root: [String: Any]
    public let text: String

    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func load() throws -> OpenAPIDocument {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        guard let root = try Yams.load(yaml: text) as? [String: Any] else { throw Invalid(description: "openapi.yaml is not a mapping") }
        return OpenAPIDocument(root: root, text: text)
    }

    public struct Invalid: Error, CustomStringConvertible { public var description: String }

    /// `METHOD /path` of every documented operation.
    public var operations: Set<String> {
        let paths = root["paths"] as? [String: Any] ?? [:]
        var result = Set<String>()
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "delete", "patch", "head"].contains(method) {
                result.insert("\(method.uppercased()) \(path)")
            }
        }
        return result
    }

    /// Problems with one response; empty when it conforms.
    public func problems(method: String, path: String, status: Int, headers: HTTPFields, body: Data) -> [String] {
        guard let operation = ((root["paths"] as? [String: Any])?[path] as? [String: Any])?[method.lowercased()] as? [String: Any] else {
            // Unknown routes and methods are not operations; their answers still use the Error schema.
            guard status == 404 || status == 405, let value = try? JSONSerialization.jsonObject(with: body) else {
                return ["\(method) \(path) is not in the spec (answered \(status))"]
            }
            return validate(value, against: ["$ref": "#/components/schemas/Error"], at: "\(method) \(path) \(status) body")
        }
        guard let responses = operation["responses"] as? [String: Any],
            let declared = responses[String(status)] ?? responses["default"],
            let response = resolve(declared) as? [String: Any]
        else {
            return ["\(method) \(path): status \(status) is not documented"]
        }
        var problems: [String] = []
        for (name, header) in response["headers"] as? [String: Any] ?? [:] {
            let header = resolve(header) as? [String: Any] ?? [:]
            if header["required"] as? Bool == true, headers[HTTPField.Name(name)!] == nil {
                problems.append("\(method) \(path) \(status): header \(name) is missing")
            }
        }
        guard let content = response["content"] as? [String: Any] else {
            if !body.isEmpty { problems.append("\(method) \(path) \(status): a body was sent but none is documented") }
            return problems
        }
        let contentType = headers[.contentType]?.split(separator: ";").first.map(String.init) ?? ""
        guard let media = content[contentType] as? [String: Any] else {
            return problems + ["\(method) \(path) \(status): content type \(contentType) is not documented"]
        }
        guard contentType == "application/json", let schema = media["schema"] else { return problems }
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            return problems + ["\(method) \(path) \(status): the body is not JSON"]
        }
        return problems + validate(value, against: schema, at: "\(method) \(path) \(status) body")
    }

    func resolve(_ node: Any) -> Any {
        guard let object = node as? [String: Any], let reference = object["$ref"] as? String, reference.hasPrefix("#/") else { return node }
        var current: Any = root
        for part in reference.dropFirst(2).split(separator: "/") {
            guard let next = (current as? [String: Any])?[String(part)] else { return node }
            current = next
        }
        return resolve(current)
    }

    func validate(_ value: Any, against schemaNode: Any, at location: String) -> [String] {
        guard let schema = resolve(schemaNode) as? [String: Any] else { return [] }
        if value is NSNull { return schema["nullable"] as? Bool == true ? [] : ["\(location): null is not allowed"] }
        if let options = schema["oneOf"] as? [Any] {
            let matching = options.filter { validate(value, against: $0, at: location).isEmpty }.count
            return matching == 1 ? [] : ["\(location): matches \(matching) of the oneOf schemas, not exactly one"]
        }
        var problems: [String] = []
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { "\($0)" == "\(value)" }) {
            problems.append("\(location): \(value) is not one of \(allowed)")
        }
        switch schema["type"] as? String {
        case "object":
            guard let object = value as? [String: Any] else { return ["\(location): not an object"] }
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                problems.append("\(location): required property \(name) is missing")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (name, member) in object {
                if let property = properties[name] {
                    problems += validate(member, against: property, at: "\(location).\(name)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(location): property \(name) is not documented")
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    problems += validate(member, against: additional, at: "\(location).\(name)")
                }
            }
        case "array":
            guard let array = value as? [Any] else { return ["\(location): not an array"] }
            if let items = schema["items"] {
                for (index, element) in array.enumerated() { problems += validate(element, against: items, at: "\(location)[\(index)]") }
            }
        case "string":
            guard let string = value as? String else { return ["\(location): not a string"] }
            if let minimum = schema["minLength"] as? Int, string.count < minimum { problems.append("\(location): shorter than \(minimum)") }
        case "integer", "number":
            // (On Linux a JSON 1 also casts to Bool, so booleans are not told apart from numbers here.)
            guard let number = value as? NSNumber else { return ["\(location): not a number"] }
            if let minimum = schema["minimum"] as? Int, number.intValue < minimum { problems.append("\(location): below \(minimum)") }
        case "boolean":
            if !(value is Bool) { problems.append("\(location): not a boolean") }
        default:
            break
        }
        return problems
    }
}
