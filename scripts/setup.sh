#!/usr/bin/env bash
# Installs what logpipe needs to build, run, test and benchmark on Debian/Ubuntu (as root), skipping what is
# present: Debian's RabbitMQ server, the rabbitmq-c and libmongoc development files, pkg-config, and every
# program the scripts and tests invoke (docker-compose validates the compose file, wrk drives the benchmarks,
# python3-pymongo runs the docs' mongosh examples and reads the soaks' stores back, amqp-tools publishes the chaos
# soak's hostile messages, prometheus and its promtool check and evaluate the alert rules, python3-matplotlib
# draws the benchmark plots; docker.io is the compose test's private Docker engine and debootstrap makes its
# Debian base image, scripts/compose-test.sh).
# Swift itself (6.x) must already be on PATH (or in /opt/swift/usr/bin).
#
#   bash scripts/setup.sh           Debian packages
#   bash scripts/setup.sh --test    also the PyPI tools of the tests (schemathesis, in .build/schemathesis-venv;
#                                   the OpenTelemetry SDK with its OTLP/HTTP exporter, in .build/otel-venv;
#                                   SecantusDB, the tests' MongoDB-wire-protocol server, in .build/secantus-venv;
#                                   the Loki query client loki-reader-core, in .build/loki-venv)
#
# scripts/check_tools.py (run by scripts/test.sh) fails when a script or test invokes a program that is
# neither in the base image (scripts/base-image-packages.txt) nor in the list below.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(rabbitmq-server librabbitmq-dev libmongoc-dev libbson-dev pkg-config libsqlite3-dev zlib1g-dev
  python3-bson python3-pymongo python3-venv curl ca-certificates docker-compose wrk amqp-tools
  protobuf-compiler libsnappy-dev syslog-ng-core syslog-ng-mod-http prometheus python3-yaml python3-matplotlib openssl
  docker.io debootstrap iproute2 iptables)
pypi_tools=("schemathesis==4.32.5")
venv=.build/schemathesis-venv
# The OpenTelemetry Python SDK and its OTLP/HTTP exporter: a real client of POST /v1/logs in the tests.
otel_tools=("opentelemetry-sdk==1.38.0" "opentelemetry-exporter-otlp-proto-http==1.38.0")
otel_venv=.build/otel-venv
# SecantusDB: an independent MongoDB-wire-protocol server on WiredTiger (not MongoDB), the MongoDB server of the
# tests (scripts/secantus.sh starts it). Pinned with every dependency, so a new machine gets the same server.
secantus_tools=("SecantusDB==0.7.0b3" "pymongo==4.20.1" "dnspython==2.9.2" "future==1.0.0" "numpy==2.4.6"
  "python-dateutil==4.0.0" "s2sphere==0.2.5" "shapely==2.2.0" "tzdata==2026.6")
secantus_venv=.build/secantus-venv
# loki-reader-core, a Loki query client from PyPI (with its dependencies pinned): a real client of the read API.
loki_tools=("loki-reader-core==0.2.5" "requests==2.34.2" "urllib3==2.8.0" "idna==3.21" "charset-normalizer==3.5.3"
  "certifi==2026.10.19.post1")
loki_venv=.build/loki-venv

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # Debian starts rabbitmq-server (and docker.io's dockerd) as a system service on install where it can; logpipe
  # runs its own private node (broker/rabbitmq.sh) and its own engine (scripts/compose/engine.sh, which refuses to
  # run beside another engine) instead.
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
if [ "${1:-}" = --test ] && [ ! -f "$secantus_venv/.installed-0.7.0b3" ]; then
  echo "setup: installing ${secantus_tools[*]} into $secantus_venv"
  mkdir -p .build
  rm -rf "$secantus_venv"
  /usr/bin/python3 -m venv "$secantus_venv"
  "$secantus_venv/bin/pip" install --quiet "${secantus_tools[@]}"
  touch "$secantus_venv/.installed-0.7.0b3"
fi

if [ "${1:-}" = --test ] && [ ! -f "$loki_venv/.installed-0.2.5" ]; then
  echo "setup: installing ${loki_tools[*]} into $loki_venv"
  mkdir -p .build
  rm -rf "$loki_venv"
  /usr/bin/python3 -m venv "$loki_venv"
  "$loki_venv/bin/pip" install --quiet "${loki_tools[@]}"
  touch "$loki_venv/.installed-0.2.5"
fi

if ! command -v swift > /dev/null; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    echo "setup: add /opt/swift/usr/bin to PATH" >&2
  else
    echo "setup: Swift 6 is not installed; see https://www.swift.org/install/linux/" >&2
  fi
  exit 1
fi
