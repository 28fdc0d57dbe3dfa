#!/usr/bin/python3
"""The monitoring test: a real Prometheus (Debian's `prometheus`) scrapes a running `logpipe serve` and a private
RabbitMQ node's Prometheus plugin on loopback, evaluates deploy/prometheus/alerts.yml itself, and:

- under a short load (single logs and batches with PII, a few invalid requests, a rate-limited tenant) the
  "DLQ growing" alert stays quiet;
- two poison messages published straight to the broker are parked by the worker, and Prometheus fires
  LogpipeDLQGrowing for the DLQ;
- every query of the Grafana dashboard (deploy/grafana/logpipe.json) runs without error, and every metric
  named by the dashboard or by an alert rule is one Prometheus has actually scraped (from logpipe, its
  process, or RabbitMQ) — a renamed metric fails here instead of leaving a panel empty or an alert mute.

  python3 scripts/prometheus/run.py [--binary .build/debug/logpipe] [--load-seconds 8]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROKER_NAME, BROKER_PORT = "promtest", 5830
PROMETHEUS_PORT = 9830
NAMESPACE = "promtest"


def broker(*arguments, check=True):
    env = dict(os.environ, LOGPIPE_BROKER_NAME=BROKER_NAME, LOGPIPE_BROKER_PORT=str(BROKER_PORT))
    result = subprocess.run(["bash", os.path.join(ROOT, "broker", "rabbitmq.sh"), *arguments], env=env,
                            capture_output=True, text=True, timeout=180)
    if check and result.returncode != 0:
        raise RuntimeError(f"rabbitmq.sh {' '.join(arguments)}: {result.stderr[-500:]}")
    return result.stdout.strip()


def wait_for(what, condition, timeout, every=0.25):
    """Polls `condition` until it returns something truthy or `timeout` seconds pass (then fails naming `what`)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def prometheus(path, **query):
    url = f"http://127.0.0.1:{PROMETHEUS_PORT}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def firing(name):
    alerts = prometheus("/api/v1/alerts")["data"]["alerts"]
    return [alert for alert in alerts if alert["labels"].get("alertname") == name and alert["state"] == "firing"]


def metric_names(expression):
    """The metric names an expression reads (identifiers that are not PromQL functions, keywords or labels)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_labels)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_groupings))
    return {word for word in words if word.startswith(("logpipe_", "process_", "rabbitmq_"))}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "logpipe"))
    parser.add_argument("--load-seconds", type=float, default=8)
    options = parser.parse_args()
    work = tempfile.mkdtemp(prefix="logpipe-prometheus-test-")
    processes = []
    failures = []

    def check(condition, message):
        print(("ok   " if condition else "FAIL ") + message)
        if not condition:
            failures.append(message)

    try:
        broker("wipe", check=False)
        broker("start")
        api_port = 20000 + (os.getpid() % 9000)
        tenants_file = os.path.join(work, "tenants.json")
        with open(tenants_file, "w") as handle:
            json.dump({"limited": {"rate": 1, "burst": 1}}, handle)
        env = dict(os.environ, LOGPIPE_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{BROKER_PORT}/", LOGPIPE_NAMESPACE=NAMESPACE,
                   LOGPIPE_SQLITE_PATH=os.path.join(work, "logs.sqlite"), LOGPIPE_TENANTS_FILE=tenants_file,
                   LOGPIPE_METRICS_TENANTS="acme,limited", LOGPIPE_WORKER_HTTP_PORT="0", LOGPIPE_RETRY_DELAYS="1s",
                   LOGPIPE_LOG_FORMAT="json", LOGPIPE_MONGO_URI="")
        with open(os.path.join(work, "serve.log"), "w") as log:
            processes.append(subprocess.Popen([options.binary, "serve", "--host", "127.0.0.1", "--port", str(api_port)],
                                              env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_for("logpipe serve to be ready", lambda: request(api_port, "GET", "/readiness")[0] == 200, 60)

        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as handle:
            handle.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")}
scrape_configs:
  - job_name: logpipe-api
    static_configs:
      - targets: ["127.0.0.1:{api_port}"]
  - job_name: rabbitmq
    static_configs:
      - targets: ["127.0.0.1:{BROKER_PORT + 10100}"]
""")
        subprocess.run(["promtool", "check", "config", config], check=True, capture_output=True)
        with open(os.path.join(work, "prometheus.log"), "w") as log:
            processes.append(subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work}/tsdb",
                                               f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"],
                                              stdout=log, stderr=subprocess.STDOUT))
        wait_for("Prometheus to be ready", lambda: request(PROMETHEUS_PORT, "GET", "/-/ready")[0] == 200, 60)
        wait_for("both targets up", lambda: all(target["health"] == "up" for target in
                                                prometheus("/api/v1/targets")["data"]["activeTargets"])
                 and len(prometheus("/api/v1/targets")["data"]["activeTargets"]) == 2, 60)

        # The load: single logs and NDJSON batches carrying PII, a few invalid requests, a tenant over its rate.
        posted = accepted = limited = 0
        start = time.time()
        index = 0
        while time.time() - start < options.load_seconds:
            index += 1
            single = json.dumps({"tenant_id": "acme", "log_id": f"p-{index}", "text": f"login bob{index}@example.com from 10.0.0.{index % 250}"})
            status, _ = request(api_port, "POST", "/ingest", single, {"Content-Type": "application/json"})
            accepted += status == 202
            batch = "\n".join(json.dumps({"tenant_id": "beta", "log_id": f"b-{index}-{k}", "text": f"call 555-010-{k:04d}"}) for k in range(20))
            status, _ = request(api_port, "POST", "/ingest", batch, {"Content-Type": "application/x-ndjson"})
            accepted += 20 * (status == 202)
            posted += 21
            if index % 10 == 0:
                request(api_port, "POST", "/ingest", "{not json", {"Content-Type": "application/json"})
                status, _ = request(api_port, "POST", "/ingest", json.dumps({"tenant_id": "limited", "text": "x"}),
                                    {"Content-Type": "application/json"})
                limited += status == 429
        check(accepted == posted, f"load: {accepted} of {posted} logs answered 202")
        check(limited > 0, f"load: the rate-limited tenant got {limited} answers 429")
        # Two scrapes of the drained queues, then the alert must still be quiet.
        wait_for("the worker to store the load", lambda: prometheus("/api/v1/query", query=f'sum(logpipe_worker_deliveries_total{{outcome="stored"}})')
                 ["data"]["result"] and float(prometheus("/api/v1/query", query='sum(logpipe_worker_deliveries_total{outcome="stored"})')
                                              ["data"]["result"][0]["value"][1]) >= accepted, 60)
        check(not firing("LogpipeDLQGrowing"), "no DLQ alert while nothing is parked")

        # The empty DLQ must have been scraped first: "growing" is a change between samples.
        wait_for("a scrape of the empty DLQ", lambda: prometheus("/api/v1/query", query=f'logpipe_queue_ready_messages{{queue="{NAMESPACE}.dlq"}} == 0')
                 ["data"]["result"], 60)
        # Poison: a body that is not a log, and a log routed for another tenant than it names.
        for body in ("not json", json.dumps({"v": 1, "tenant_id": "beta", "log_id": "poison-1", "text": "x",
                                             "received_at": "2026-12-01T00:00:00Z", "request_id": "r"})):
            subprocess.run(["amqp-publish", "-u", f"amqp://guest:guest@127.0.0.1:{BROKER_PORT}", "-e", f"{NAMESPACE}.ingest",
                            "-r", "tenant.acme", "-p", "-C", "application/json", "-H", "x-tenant-id: acme", "-b", body],
                           check=True, capture_output=True, timeout=30)
        began = time.time()
        alerts = wait_for("Prometheus to fire LogpipeDLQGrowing", lambda: firing("LogpipeDLQGrowing"), 120, every=0.5)
        check(alerts[0]["labels"].get("queue") == f"{NAMESPACE}.dlq",
              f"LogpipeDLQGrowing fired by the real Prometheus for {alerts[0]['labels'].get('queue')} "
              f"{time.time() - began:.1f} s after the poison was published")
        check(alerts[0]["annotations"].get("runbook_url", "").startswith("docs/runbooks.md#"), "the alert links its runbook")

        # Every dashboard query runs; every metric the dashboard and the rules name has been scraped.
        scraped = set(prometheus("/api/v1/label/__name__/values")["data"])
        with open(os.path.join(ROOT, "deploy", "grafana", "logpipe.json")) as handle:
            dashboard = json.load(handle)
        expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
        bad = []
        for expression in expressions:
            result = prometheus("/api/v1/query", query=expression.replace("$__rate_interval", "1m"))
            if result.get("status") != "success":
                bad.append(expression)
        check(not bad, f"{len(expressions)} dashboard queries run ({len(bad)} failed: {bad[:3]})")
        with open(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")) as handle:
            groups = yaml.safe_load(handle)["groups"]
        rule_expressions = [rule["expr"] for group in groups for rule in group["rules"]]
        named = set().union(*(metric_names(e) for e in expressions + rule_expressions))
        missing = sorted(name for name in named if name not in scraped)
        check(not missing, f"{len(named)} metrics named by the dashboard and the rules were all scraped (missing: {missing})")
        rss = prometheus("/api/v1/query", query='process_resident_memory_bytes{job="logpipe-api"}')["data"]["result"]
        check(bool(rss) and 1e6 < float(rss[0]["value"][1]) < 2e9, f"process RSS exported: {rss[0]['value'][1] if rss else None} bytes")
    except Exception as error:  # noqa: BLE001 - report any failure of the harness itself as a test failure
        failures.append(f"{type(error).__name__}: {error}")
        print(f"FAIL {type(error).__name__}: {error}")
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        broker("wipe", check=False)
    if failures:
        print(f"prometheus test: FAILED (logs in {work})")
        for name in ("serve.log", "prometheus.log"):
            path = os.path.join(work, name)
            if os.path.exists(path):
                print(f"--- last lines of {name}:")
                print("".join(open(path).readlines()[-15:]))
        return 1
    print("prometheus test: passed")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
