#!/usr/bin/env bash
# Regenerates the Swift code of Protos/*.proto into Sources/ShipperProtocols/Generated/ (committed: builds
# never run protoc). Needs protoc (Debian's protobuf-compiler, installed by scripts/setup.sh) and builds
# swift-protobuf's protoc-gen-swift plugin once into .build/protoc-gen-swift (about ten minutes the first time).
#
#   bash scripts/generate-protos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
version=1.39.0
plugin_dir=.build/protoc-gen-swift
if [ ! -x "$plugin_dir/.build/release/protoc-gen-swift" ]; then
  rm -rf "$plugin_dir"
  git clone -q --depth 1 --branch "$version" https://github.com/apple/swift-protobuf.git "$plugin_dir"
  swift build -c release --package-path "$plugin_dir" --product protoc-gen-swift
fi
out=Sources/ShipperProtocols/Generated
mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$plugin_dir/.build/release/protoc-gen-swift" --swift_out="$out" \
  --swift_opt=Visibility=Public --proto_path=Protos Protos/*.proto
echo "generated: $(ls "$out")"
