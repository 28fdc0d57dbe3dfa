#!/usr/bin/env bash
# Installs what logpipe needs to build, run and test on Debian/Ubuntu (as root), skipping what is present:
# Debian's RabbitMQ server, the rabbitmq-c and libmongoc development files, pkg-config, and the tools the
# scripts use. Swift itself (6.x) must already be on PATH (or in /opt/swift/usr/bin).
set -euo pipefail

packages=(rabbitmq-server librabbitmq-dev libmongoc-dev libbson-dev pkg-config libsqlite3-dev python3-mockupdb python3-venv zlib1g-dev curl ca-certificates)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # Debian starts rabbitmq-server as a system service on install where it can; logpipe runs its own
  # private node instead (broker/rabbitmq.sh), so a system service is neither needed nor in the way.
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift > /dev/null; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "setup: add /opt/swift/usr/bin to PATH" >&2
  else
    echo "setup: Swift 6 is not installed; see https://www.swift.org/install/linux/" >&2
  fi
  exit 1
fi
