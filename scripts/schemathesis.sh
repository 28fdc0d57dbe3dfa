#!/usr/bin/env bash
# Property-based API testing: schemathesis (from PyPI, in a venv under .build/) generates requests from
# openapi.yaml against a running `logpipe api` and checks that there are no 500s and that every response is
# documented (status, headers, content type, body schema). Needs the test broker (scripts/test.sh starts it)
# and a built `.build/debug/logpipe`.
#
# Excluded check: positive_data_acceptance. OpenAPI 3.0 cannot express the cross-field rules (a tenant in the
# body or in X-Tenant-ID, equal when both are given; limits in bytes, not characters), so a request that is
# valid for the schema can rightly be refused with 400.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.build/schemathesis-venv
[ -x "$venv/bin/st" ] || bash scripts/setup.sh --test  # installs schemathesis into $venv

url=${LOGPIPE_TEST_AMQP_URL:-$(LOGPIPE_BROKER_NAME=test LOGPIPE_BROKER_PORT=${LOGPIPE_TEST_BROKER_PORT:-5702} bash broker/rabbitmq.sh url)}
port=${LOGPIPE_SCHEMATHESIS_PORT:-8123}
namespace="schemathesis-$$"
LOG_LEVEL=warning LOGPIPE_NAMESPACE=$namespace .build/debug/logpipe api --host 127.0.0.1 --port "$port" --amqp-url "$url" \
  > /tmp/logpipe-schemathesis-api.log 2>&1 &
api_pid=$!
trap 'kill $api_pid 2> /dev/null || true' EXIT
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/readiness" > /dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$port/readiness" > /dev/null || { cat /tmp/logpipe-schemathesis-api.log >&2; echo "the API did not become ready" >&2; exit 1; }

"$venv/bin/st" run openapi.yaml --url "http://127.0.0.1:$port" --checks all --exclude-checks positive_data_acceptance \
  --max-examples "${LOGPIPE_SCHEMATHESIS_EXAMPLES:-200}" --no-color
