import LogPipeCore

/// The table behind the redaction tests: values that must be found, and text that must survive.
enum RedactionCases {
    /// A value of a type, and what the value becomes (the mask, plus anything that stays such as a port).
    struct Positive: CustomStringConvertible, Sendable {
        var value: String
        var type: PIIType
        var redacted: String
        init(_ value: String, _ type: PIIType, redacted: String? = nil) {
            self.value = value
            self.type = type
            self.redacted = redacted ?? type.mask
        }
        var description: String { "\(type.rawValue) \(value)" }
    }

    static let emails: [Positive] = [
        "alice@example.com", "Bob.Smith@Mail.Example.CO.UK", "user+tag@sub.domain.io", "first_last@example.org",
        "x@y.museum", "o.k-1@a-b.example.net", "ALL.CAPS@EXAMPLE.COM", "user%relay@example.com", "12345@numbers.example",
        "jane.doe+logs@corp.internal.example.com", "a1@b2.cd",
    ].map { Positive($0, .email) }

    static let phones: [Positive] = [
        "555-0199", "(555) 123-4567", "(555)123-4567", "555.123.4567", "555-123-4567", "555 123 4567",
        "+1 555 123 4567", "+1-555-123-4567", "+1.555.123.4567", "+15551234567", "+1 (555) 123-4567",
        "1-800-555-0199", "1 (800) 555-0199", "1.800.555.0199", "+44 20 7946 0958", "+49 30 901820",
        "+33 1 23 45 67 89", "+81 3-1234-5678", "+61 2 9876 5432", "+353 1 234 5678", "+4930901820",
        "+91 98765 43210", "+86 10 1234 5678",
    ].map { Positive($0, .phone) }

    static let ssns: [Positive] = [
        "123-45-6789", "078-05-1120", "665-12-3456", "899-99-9999", "001-01-0001", "772-23-0412",
    ].map { Positive($0, .ssn) }

    /// Card numbers are generated: an issuer prefix, digits, and the Luhn check digit.
    static let cardPrefixes: [(prefix: String, length: Int)] = [
        ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15),
        ("6011", 16), ("644", 16), ("65", 16), ("622126", 16), ("622925", 19), ("3528", 16), ("3589", 19),
        ("300", 14), ("305", 14), ("36", 14), ("38", 16), ("62", 16), ("62", 19),
    ]

    static func luhnComplete(_ partial: String) -> String {
        let digits = partial.compactMap(\.wholeNumberValue)
        var sum = 0
        for (offset, digit) in digits.reversed().enumerated() {
            let value = offset % 2 == 0 ? digit * 2 : digit
            sum += value > 9 ? value - 9 : value
        }
        return partial + String((10 - sum % 10) % 10)
    }

    static func card(_ prefix: String, _ length: Int, seed: Int) -> String {
        var partial = prefix
        var state = UInt64(seed &* 2_654_435_761 &+ 97)
        while partial.count < length - 1 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            partial += String((state >> 33) % 10)
        }
        return luhnComplete(partial)
    }

    static func grouped(_ number: String, _ separator: String, _ sizes: [Int]) -> String {
        var groups: [String] = []
        var rest = Substring(number)
        for size in sizes where !rest.isEmpty {
            groups.append(String(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        if !rest.isEmpty { groups.append(String(rest)) }
        return groups.joined(separator: separator)
    }

    static let cards: [Positive] = {
        var values = [
            "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "4012888888881881",
            "4222222222222", "5555555555554444", "5105105105105100", "2221000000000009", "378282246310005",
            "371449635398431", "3782 822463 10005", "6011111111111117", "6011000990139424",
            "3530111333300000", "3566002020360505", "30569309025904", "38520000023237", "36227206271667",
            "6200000000000005",
        ]
        for (index, issuer) in cardPrefixes.enumerated() {
            let number = card(issuer.prefix, issuer.length, seed: index)
            values.append(number)
            // Printed groupings: 4-4-4-4(-3) for 16 and 19 digits, 4-6-5 for 15, 4-6-4 for 14.
            let sizes =
                switch issuer.length {
                case 15: [4, 6, 5]
                case 14: [4, 6, 4]
                case 13: [4, 4, 5]
                default: [4, 4, 4, 4, 3]
                }
            values.append(grouped(number, " ", sizes))
            values.append(grouped(number, "-", sizes))
        }
        return values.map { Positive($0, .creditCard) }
    }()

    static let ips: [Positive] = [
        Positive("192.168.1.1", .ipAddress), Positive("10.0.0.1", .ipAddress), Positive("255.255.255.255", .ipAddress),
        Positive("0.0.0.0", .ipAddress), Positive("8.8.8.8", .ipAddress), Positive("172.16.254.1", .ipAddress),
        Positive("192.168.001.010", .ipAddress),
        Positive("192.168.1.1:8080", .ipAddress, redacted: "[REDACTED:IP_ADDRESS]:8080"),
        Positive("2001:0db8:85a3:0000:0000:8a2e:0370:7334", .ipAddress), Positive("2001:db8:85a3::8a2e:370:7334", .ipAddress),
        Positive("::1", .ipAddress), Positive("fe80::1%eth0", .ipAddress), Positive("::ffff:192.168.1.1", .ipAddress),
        Positive("2001:db8::", .ipAddress), Positive("fe80::200:f8ff:fe21:67cf", .ipAddress), Positive("FE80::ABCD", .ipAddress),
        Positive("64:ff9b::192.0.2.33", .ipAddress), Positive("2001:DB8:0:0:8:800:200C:417A", .ipAddress),
        Positive("[2001:db8::1]:443", .ipAddress, redacted: "[[REDACTED:IP_ADDRESS]]:443"),
        Positive("1:2:3:4:5:6:7:8", .ipAddress), Positive("::ffff:10.0.0.1", .ipAddress), Positive("0:0:0:0:0:0:0:1", .ipAddress),
    ]

    /// Credentials; where the mask covers only the credential, `redacted` shows what is kept.
    static let secrets: [Positive] = [
        Positive(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            .secret),
        Positive("eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.", .secret),
        Positive("Bearer 8f14e45fceea167a5a36dedd4bea2543", .secret, redacted: "Bearer [REDACTED:SECRET]"),
        Positive("Authorization: Bearer abcDEF123456ghiJKL789", .secret, redacted: "Authorization: Bearer [REDACTED:SECRET]"),
        Positive("bearer sk-ab12cd34ef56gh78", .secret, redacted: "bearer [REDACTED:SECRET]"),
        Positive("BEARER tok.en_1-2~3+4/5==", .secret, redacted: "BEARER [REDACTED:SECRET]"),
        Positive("Basic dXNlcjpwYXNzd29yZA==", .secret, redacted: "Basic [REDACTED:SECRET]"),
        Positive("Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", .secret, redacted: "Authorization: Basic [REDACTED:SECRET]"),
        Positive("https://admin:hunter2@example.com/path", .secret, redacted: "https://admin:[REDACTED:SECRET]@example.com/path"),
        Positive("amqp://guest:guest@rabbit:5672/", .secret, redacted: "amqp://guest:[REDACTED:SECRET]@rabbit:5672/"),
        Positive("postgres://app:s3cr3t%21x@db.internal/app", .secret, redacted: "postgres://app:[REDACTED:SECRET]@db.internal/app"),
        Positive("mongodb+srv://u:5551234567@cluster0.example.net", .secret, redacted: "mongodb+srv://u:[REDACTED:SECRET]@cluster0.example.net"),
        Positive("s3://key:wJalrXUtnFEMI-bPxRfiCY@bucket", .secret, redacted: "s3://key:[REDACTED:SECRET]@bucket"),
        Positive("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7V0k3Jq\nZ9q+xw==\n-----END RSA PRIVATE KEY-----", .secret),
        Positive("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----", .secret),
        Positive("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----", .secret),
        Positive(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\nMIIC+w==\n-----END ENCRYPTED PRIVATE KEY-----",
            .secret),
        Positive("AKIAIOSFODNN7EXAMPLE", .secret), Positive("ASIAY34FZKBOKMUTVV7A", .secret),
        Positive("ghp_1234567890abcdefghijklmnopqrstuvwxyz", .secret),
        Positive("gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", .secret),
        Positive("github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab", .secret),
        Positive("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", .secret),
        Positive("xoxp-0123456789-abcdef", .secret),
        Positive("sk_live_4eC39HqLyjWDarjtT1zdp7dc", .secret), Positive("rk_test_51H8abcdefghijklmnop", .secret),
        Positive("AIzaSyA-1234567890abcdefghijklmnopqrstu", .secret),
    ]

    static let positives: [Positive] = emails + phones + ssns + cards + ips + secrets

    /// Contexts a value is embedded in; `{}` marks the value.
    static let contexts = ["{}", "user {} logged in", "key={};", "({})"]

    /// Text that must come out exactly as it went in.
    static let negatives: [String] = [
        "2026-11-29", "2026-11-29T10:00:00Z", "2026-11-29T10:00:00.123+01:00", "29/11/2026", "11/29/2026",
        "10:00 AM", "10:00:00", "23:59:59.999", "Sun, 29 Nov 2026 01:30:00 GMT", "20261129", "2026.11.29",
        "v1.2.3", "1.2.3", "version 2.10.4", "10.0.19045.3803", "1.2.3.4.5", "python3.11", "openssl 3.0.19",
        "550e8400-e29b-41d4-a716-446655440000", "123e4567-e89b-12d3-a456-426614174000",
        "d41d8cd98f00b204e9800998ecf8427e", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8", "0x7fff5fbff8c0", "tx 0xdeadbeef",
        "4111111111111112", "1234567890123456", "1234 5678 9012 3456", "4111 1111 1111 1112", "0000 0000 0000 0000",
        "$1,234.56", "€99.99", "USD 1234.50", "price 19.99", "150ms", "2.5s", "1h30m", "took 1234 ms",
        "1024 bytes", "1,048,576 bytes", "12.5 MB", ":8080", "port 8080", "localhost:3000", "HTTP 200",
        "status=404", "500 Internal Server Error", "HTTP/1.1", "order 12345678", "ORD-2026-000123", "#4567",
        "invoice INV-555-0199", "000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000",
        "999.999.999.999", "256.1.1.1", "1.2.3.256", "00:1A:2B:3C:4D:5E", "user@localhost", "@handle", "a@b",
        "foo at example dot com", "pid 12345", "thread-7", "x86_64", "1764374400", "1764374400123",
        "lat 37.7749, lon -122.4194", "123-4567", "ratio 3/4", "build 20261129.1", "retry 3 of 5",
        "C:\\Windows\\System32", "std::vector<int>", "12:30:45.678", "-0800", "+0100", "+1", "+12", "98.6°F",
        "ISBN 978-3-16-148410-0", "RFC 5322", "errno=-110", "exit code 137", "cpu 99.5%", "p99=245ms",
        "1e-9", "3.14159", "x=1,y=2", "id:42", "[REDACTED:EMAIL]", "[REDACTED:IP_ADDRESS]:8080",
        // Near misses of credentials.
        "Basic usage", "Basic auth failed", "Bearer token expired", "Bearer authentication required",
        "Basic YWJjZGVmZ2g=", "base64 SGVsbG8gV29ybGQ=", "payload=eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.notjwt",
        "sk_live_short", "sk_other_4eC39HqLyjWDarjtT1zdp7dc", "AKIA1234", "AKIAIOSFODNN7EXAMPLE99", "ghp_short",
        "ghx_1234567890abcdefghijklmnopqrstuvwxyz", "xoxb-123", "AIzaShort", "https://example.com/a@b",
        "redis://localhost:6379/0", "https://example.com:8443/login", "s3://bucket/key", "-----BEGIN CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----", "--- separator ---", "-----", "session abc", "token bucket", "secret santa",
        "sha1 e5fa44f2b31c1fb553b6021e7360d07d5d91ff5e", "[REDACTED:SECRET]", "Bearer [REDACTED:SECRET]",
    ]
}
