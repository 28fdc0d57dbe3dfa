#!/usr/bin/env bash
# Installs what logpipe needs to build, run, test and benchmark on Debian/Ubuntu (as root), skipping what is
# present: Debian's RabbitMQ server, the rabbitmq-c and libmongoc development files, pkg-config, and every
# program the scripts and tests invoke (docker-compose validates the compose file, wrk drives the benchmarks,
# python3-mockupdb is the MongoDB test double, amqp-tools publishes the chaos soak's hostile messages, prometheus
# and its promtool check and evaluate the alert rules, python3-matplotlib draws the benchmark plots).
# Swift itself (6.x) must already be on PATH (or in /opt/swift/usr/bin).
#
#   bash scripts/setup.sh           Debian packages
#   bash scripts/setup.sh --test    also the PyPI tools of the tests (schemathesis, in .build/schemathesis-venv;
#                                   the OpenTelemetry SDK with its OTLP/HTTP exporter, in .build/otel-venv)
#
# scripts/check_tools.py (run by scripts/test.sh) fails when a script or test invokes a program that is
# neither in the base image (scripts/base-image-packages.txt) nor in the list below.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(rabbitmq-server librabbitmq-dev libmongoc-dev libbson-dev pkg-config libsqlite3-dev zlib1g-dev
  python3-mockupdb python3-bson python3-pymongo python3-venv curl ca-certificates docker-compose wrk amqp-tools
  protobuf-compiler libsnappy-dev syslog-ng-core syslog-ng-mod-http prometheus python3-yaml python3-matplotlib openssl)
pypi_tools=("schemathesis==4.32.5")
venv=.build/schemathesis-venv
# The OpenTelemetry Python SDK and its OTLP/HTTP exporter: a real client of POST /v1/logs in the tests.
otel_tools=("opentelemetry-sdk==1.38.0" "opentelemetry-exporter-otlp-proto-http==1.38.0")
otel_venv=.build/otel-venv

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

if [ "${1:-}" = --test ] && [ ! -x "$venv/bin/st" ]; then
  echo "setup: installing ${pypi_tools[*]} into $venv"
  mkdir -p .build
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "${pypi_tools[@]}"
fi
if [ "${1:-}" = --test ] && [ ! -x "$otel_venv/bin/python" -o ! -f "$otel_venv/.installed" ]; then
  echo "setup: installing ${otel_tools[*]} into $otel_venv"
  mkdir -p .build
  /usr/bin/python3 -m venv "$otel_venv"
  "$otel_venv/bin/pip" install --quiet "${otel_tools[@]}"
  touch "$otel_venv/.installed"
fi

if ! command -v swift > /dev/null; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "setup: add /opt/swift/usr/bin to PATH" >&2
  else
    echo "setup: Swift 6 is not installed; see https://www.swift.org/install/linux/" >&2
  fi
  exit 1
fi
