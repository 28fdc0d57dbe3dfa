extension AttributeValue {
    /// A stored `attributes` object (the flat JSON object the SQLite store keeps), read with the strict fast
    /// reader; nil when the bytes are not such an object.
    public static func object(json bytes: UnsafeRawBufferPointer) -> [String: AttributeValue]? {
        var scanner = JSONScanner(bytes)
        do throws(JSONScanner.Failure) {
            let attributes = try readObject(&scanner)
            try scanner.expectEnd()
            return attributes
        } catch {
            return nil
        }
    }
}
