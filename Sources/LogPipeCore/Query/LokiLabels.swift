/// The Loki labels of a stored log: `level` and `source` when present, and one label per attribute, its key made
/// a valid label name (every character outside `[A-Za-z0-9_]` becomes `_`, a leading digit gets a `_` before it:
/// `service.name` → `service_name`) and its value as text (`500`, `true`, `0.25`). `level` and `source` are the
/// stored fields only (an attribute whose label name would be one of them is not a label), and among attributes
/// the first key in sorted order wins. Logs with the same labels form one Loki stream.
public struct LokiLabels: Sendable, Hashable {
    public struct Label: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Sorted by name, names unique.
    public private(set) var labels: [Label]

    public init(_ labels: [Label]) {
        var seen = Set<String>()
        self.labels = labels.filter { seen.insert($0.name).inserted }.sorted { $0.name < $1.name }
    }

    public init(_ log: StoredLog) {
        var labels: [Label] = []
        if let level = log.level { labels.append(Label(name: "level", value: level)) }
        if let source = log.source { labels.append(Label(name: "source", value: source)) }
        if let attributes = log.attributes {
            for key in attributes.keys.sorted() {
                let name = Self.labelName(forAttribute: key)
                guard name != "level", name != "source" else { continue }
                labels.append(Label(name: name, value: attributes[key]!.labelValue))
            }
        }
        self.init(labels)
    }

    /// The value of one label of a log, without making its whole label set (what a matcher or a `sum by` needs).
    public static func value(of name: String, in log: StoredLog) -> String? {
        switch name {
        case "level": return log.level
        case "source": return log.source
        default:
            guard let attributes = log.attributes else { return nil }
            // A name without `_` is the label of that key only (other characters become `_`); otherwise the first key
            // in sorted order that makes the name, as in the whole label set.
            guard name.contains("_") else { return attributes[name]?.labelValue }
            return attributes.keys.sorted().first { labelName(forAttribute: $0) == name }.map { attributes[$0]!.labelValue }
        }
    }

    public subscript(name: String) -> String? {
        labels.first { $0.name == name }?.value
    }

    /// Only the named labels (a `sum by (…)` series).
    public func keeping(_ names: [String]) -> LokiLabels {
        LokiLabels(labels.filter { names.contains($0.name) })
    }

    /// The label name of an attribute key.
    public static func labelName(forAttribute key: String) -> String {
        var name = String.UnicodeScalarView()
        for scalar in key.unicodeScalars {
            let valid = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_")
            name.append(valid ? scalar : "_")
        }
        if let first = name.first, ("0"..."9").contains(first) { name.insert("_", at: name.startIndex) }
        return name.isEmpty ? "_" : String(name)
    }

    /// Whether `name` is a label name as LogQL writes them (`[A-Za-z_][A-Za-z0-9_]*`).
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
    }
}

extension AttributeValue {
    /// The value as a Loki label value.
    public var labelValue: String {
        switch self {
        case .string(let text): text
        case .int(let number): String(number)
        case .double(let number): String(number)
        case .bool(let flag): flag ? "true" : "false"
        }
    }
}
