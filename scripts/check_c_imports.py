#!/usr/bin/python3
"""C stays behind the bridges: a C module (rabbitmq-c, libmongoc, zlib, snappy, sqlite3) may be imported only
by Swift files in a `Raw/` folder (Sources/AMQPBridge/Raw, Sources/MongoBridge/Raw, Sources/ZlibBridge/Raw,
Sources/SnappyBridge/Raw, and the SQLite store's fast path in Sources/LogPipeApp/Storage/Raw). Everything
above them sees Swift types only. POSIX (Glibc) is not one of these libraries and may be used anywhere.

    python3 scripts/check_c_imports.py          # exit 1 naming each file and line that breaks the rule
    python3 scripts/check_c_imports.py --self-test
"""
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
C_MODULES = {"CRabbitMQ", "CMongoC", "CZlib", "CSnappy", "GRDBSQLite", "SQLite3", "CSQLite"}
IMPORT = re.compile(r"^\s*(?:@[\w_]+(?:\([^)]*\))?\s+)*import\s+(?:(?:struct|class|enum|func|var|let|typealias|protocol)\s+)?(\w+)")


def violations(sources):
    found = []
    for directory, _, files in os.walk(sources):
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            path = os.path.join(directory, name)
            in_raw = "Raw" in os.path.relpath(path, sources).split(os.sep)[:-1]
            with open(path, encoding="utf-8", errors="replace") as source:
                for number, line in enumerate(source, 1):
                    match = IMPORT.match(line)
                    if match and match.group(1) in C_MODULES and not in_raw:
                        found.append(f"{os.path.relpath(path, os.path.dirname(sources))}:{number}: imports {match.group(1)} "
                                     "outside a Raw/ folder (C belongs behind a bridge)")
    return found


def self_test():
    with tempfile.TemporaryDirectory() as tree:
        sources = os.path.join(tree, "Sources")
        os.makedirs(os.path.join(sources, "Bridge", "Raw"))
        os.makedirs(os.path.join(sources, "App"))
        with open(os.path.join(sources, "Bridge", "Raw", "Ok.swift"), "w") as file:
            file.write("import CRabbitMQ\n")
        with open(os.path.join(sources, "App", "Bad.swift"), "w") as file:
            file.write("import Foundation\n@preconcurrency import CMongoC\nimport Glibc\n")
        found = violations(sources)
        assert len(found) == 1 and "Bad.swift:2" in found[0], found
    print("check_c_imports: self-test passed")


def main():
    if "--self-test" in sys.argv:
        self_test()
        return 0
    found = violations(os.path.join(ROOT, "Sources"))
    for line in found:
        print(line, file=sys.stderr)
    if found:
        return 1
    print("check_c_imports: C modules are imported only in Raw/ folders")
    return 0


if __name__ == "__main__":
    sys.exit(main())
