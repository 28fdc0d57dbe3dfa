#!/usr/bin/python3
"""Hostile requests against a real `logpipe serve`: crash, stall, memory and spoofing attempts, each answered
clearly while a bystander tenant keeps being served.

A private RabbitMQ node (port 5742 unless --broker-port), `logpipe serve` with SQLite in a temporary directory,
and a bystander thread posting single logs for tenant `bystander` all along. Each case sends what an attacker
would (a 12 KB OTLP body that flattens into gigabytes, one that multiplies resource attributes by records, 8 KB
of gzip that decode to millions of records, a snappy Loki push of the same, a stream with thousands of labels,
a body that arrives fast and then trickles, thousands of idle sockets, messages forged on the broker), then
checks the answer, that the process is alive and answers /health, how much its peak RSS grew, and the p99 of the
bystander's POSTs during the case. Exits 1 when any check fails.

  python3 scripts/hostile/run.py [--binary .build/debug/logpipe] [--broker-port 5742] [--http-port 18090]
"""
import argparse
import gzip
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMESPACE = "hostile"


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number, payload):
    return varint((number << 3) | 2) + varint(len(payload)) + payload


def string_value(text):
    return field(1, text.encode())  # AnyValue.string_value


def key_value(key, any_value):
    return field(1, key.encode()) + field(2, any_value)


def otlp_request(resource_attributes, records):
    """ExportLogsServiceRequest { resourceLogs { resource { attributes }, scopeLogs { logRecords } } }."""
    resource = b"".join(field(1, attribute) for attribute in resource_attributes)
    scope = b"".join(field(2, record) for record in records)
    return field(1, field(1, resource) + field(2, scope))


def snappy(data):
    """A snappy block that compresses periodic data: a literal of the first period, then 64-byte copies."""
    period = data.find(data[:32], 1)
    if period <= 0 or period > 60000 or data != (data[:period] * (len(data) // period + 1))[: len(data)]:
        raise ValueError("snappy() here only compresses periodic data")
    out = bytearray(varint(len(data)))
    literal = data[:period]
    for start in range(0, len(literal), 60):
        chunk = literal[start:start + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
    remaining = len(data) - period
    while remaining > 0:
        length = min(64, remaining)
        if length < 4:  # a copy is at least 4 bytes: end with a literal
            tail = data[len(data) - remaining:]
            out += bytes([(len(tail) - 1) << 2]) + tail
            break
        out += bytes([((length - 1) << 2) | 2]) + period.to_bytes(2, "little")
        remaining -= length
    return bytes(out)


class Serve:
    def __init__(self, binary, broker_url, port, directory):
        self.port = port
        self.log_path = os.path.join(directory, "serve.log")
        self.database = os.path.join(directory, "logpipe.sqlite")
        env = dict(os.environ, LOGPIPE_AMQP_URL=broker_url, LOGPIPE_NAMESPACE=NAMESPACE, LOGPIPE_HTTP_PORT=str(port),
                   LOGPIPE_HTTP_HOST="127.0.0.1", LOGPIPE_SQLITE_PATH=self.database, LOGPIPE_WORKER_HTTP_PORT="0",
                   LOGPIPE_RETRY_DELAYS="1s", LOGPIPE_MAX_ATTEMPTS="2", LOG_LEVEL="info", LOGPIPE_LOG_FORMAT="text")
        self.env = env
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)

    def alive(self):
        return self.process.poll() is None

    def memory_mb(self, field):
        """VmHWM (the peak) or VmRSS (now) of the process, in MB."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def peak_rss_mb(self):
        return self.memory_mb("VmHWM")

    def rss_mb(self):
        return self.memory_mb("VmRSS")

    def stop(self):
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def request(port, method, path, body=b"", headers=None, timeout=60, source=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Bystander(threading.Thread):
    """Posts a single log for tenant `bystander` every 20 ms, from 127.0.0.3, and keeps each latency."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.samples = []  # (start, seconds, status)
        self.stop = threading.Event()
        self.sent = []

    def run(self):
        count = 0
        while not self.stop.is_set():
            count += 1
            log_id = f"by-{count}"
            body = json.dumps({"tenant_id": "bystander", "text": "still here", "log_id": log_id}).encode()
            start = time.monotonic()
            try:
                status, _ = request(self.port, "POST", "/ingest", body, {"Content-Type": "application/json"}, timeout=30,
                                    source="127.0.0.3")
            except OSError:
                status = 0
            self.samples.append((start, time.monotonic() - start, status))
            if status == 202:
                self.sent.append(log_id)
            self.stop.wait(0.02)

    def wait_for(self, count, since, timeout):
        """Until `count` requests started at or after `since` have been answered (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for start, _, _ in self.samples if start >= since) >= count:
                return True
            time.sleep(0.02)
        return False

    def p99(self, since):
        window = sorted(seconds for start, seconds, _ in self.samples if start >= since)
        if not window:
            return None, 0
        return window[min(len(window) - 1, len(window) * 99 // 100)], sum(1 for start, _, status in self.samples
                                                                           if start >= since and status != 202)


def gzip_headers(content_type, extra=None):
    headers = {"Content-Type": content_type, "Content-Encoding": "gzip", "X-Tenant-ID": "mallory"}
    headers.update(extra or {})
    return headers


def case_kvlist_bomb(serve):
    leaves = field(6, b"".join(field(1, key_value("", string_value(""))) for _ in range(1)) * 500_000)  # kvlist_value
    attribute = key_value("k" * (4 << 20), leaves)
    body = gzip.compress(otlp_request([attribute], [field(5, string_value("x"))]), 9)
    status, answer = request(serve.port, "POST", "/v1/logs", body, gzip_headers("application/x-protobuf"))
    return f"{len(body) // 1024} KB gzip", status, status in (200, 413), answer


def case_resource_times_records(serve):
    attributes = [key_value(f"a{i}", string_value("v")) for i in range(60_000)]
    records = [field(5, string_value("x"))] * 2_000
    body = gzip.compress(otlp_request(attributes, records), 9)
    status, answer = request(serve.port, "POST", "/v1/logs", body, gzip_headers("application/x-protobuf"))
    return f"{len(body) // 1024} KB gzip", status, status in (200, 413), answer


def case_empty_records(serve):
    body = gzip.compress(otlp_request([], [b""] * 4_190_000), 9)
    status, answer = request(serve.port, "POST", "/v1/logs", body, gzip_headers("application/x-protobuf"))
    return f"{len(body) // 1024} KB gzip", status, status == 413 and b"too_many_logs" in answer, answer


def case_empty_records_json(serve):
    records = ",".join(["{}"] * 2_500_000)
    raw = ('{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + records + "]}]}]}").encode()
    body = gzip.compress(raw, 9)
    status, answer = request(serve.port, "POST", "/v1/logs", body, gzip_headers("application/json"))
    return f"{len(body) // 1024} KB gzip", status, status == 413, answer


def case_loki_snappy(serve):
    entry = field(2, field(2, b"x"))  # entries { line: "x" }
    stream = field(1, b"{}") + entry * 1_300_000
    raw = field(1, stream)
    # Periodic after the stream's header: compress the entries, prefixed by their header as a literal.
    header = raw[: len(raw) - len(entry * 1_300_000)]
    body = bytearray(varint(len(raw)))
    for start in range(0, len(header), 60):
        chunk = header[start:start + 60]
        body += bytes([(len(chunk) - 1) << 2]) + chunk
    compressed_entries = snappy(entry * 1_300_000)
    body += compressed_entries[len(varint(len(entry * 1_300_000))):]
    status, answer = request(serve.port, "POST", "/loki/api/v1/push", bytes(body),
                             {"Content-Type": "application/x-protobuf", "X-Scope-OrgID": "mallory"})
    return f"{len(body) // 1024} KB snappy", status, status == 413, answer


def case_loki_labels(serve):
    labels = ",".join(f'"l{i}":"v"' for i in range(8_000))
    values = ",".join(['["1","x"]'] * 2_000)
    body = ('{"streams":[{"stream":{' + labels + '},"values":[' + values + "]}]}").encode()
    status, answer = request(serve.port, "POST", "/loki/api/v1/push", body,
                             {"Content-Type": "application/json", "X-Scope-OrgID": "mallory"})
    return f"{len(body) // 1024} KB", status, status == 400 and b"invalid_attributes" in answer, answer


def case_trickle(serve):
    """4.3 MB of an 8 MB body at once, then a byte every half second, from 127.0.0.2."""
    line = json.dumps({"tenant_id": "mallory", "text": "x" * 1000}).encode() + b"\n"
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    sock.connect(("127.0.0.1", serve.port))
    sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: "
                 + str(8 << 20).encode() + b"\r\n\r\n" + line * 4300)
    sock.settimeout(0.5)
    answer = b""
    deadline = time.time() + 30
    while time.time() < deadline and b"\r\n\r\n" not in answer:
        try:
            sock.sendall(b"x")
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        except socket.timeout:
            continue
        except OSError:
            break
    sock.close()
    status = int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return "4.3 MB, then 2 B/s", status, status == 408 and b"slower than" in answer, answer


def case_idle_sockets(serve):
    """3,000 idle connections from 127.0.0.1 (the per-client cap is 1,024): the rest are refused at once, and
    /health answers another client."""
    sockets, refused = [], 0
    for _ in range(3000):
        sock = socket.socket()
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", serve.port))
            sockets.append(sock)
        except OSError:
            refused += 1
            sock.close()
    # A refused connection gets its 503 at once; an admitted one gets nothing until it sends.
    answered = 0
    for sock in sockets[1024:]:
        try:
            sock.settimeout(5)
            if sock.recv(4096).startswith(b"HTTP/1.1 503"):
                answered += 1
        except OSError:
            pass
    status, _ = request(serve.port, "GET", "/health", source="127.0.0.2", timeout=10)
    for sock in sockets:
        sock.close()
    ok = status == 200 and answered >= len(sockets) - 1024 - 5
    return f"{len(sockets)} sockets, {answered} answered 503", status, ok, b""


def publish_raw(broker_port, routing_key, body, headers):
    command = ["amqp-publish", "-u", f"amqp://guest:guest@127.0.0.1:{broker_port}", "-e", f"{NAMESPACE}.ingest",
               "-r", routing_key, "-p", "-C", "application/json"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    # The body on standard input (one message of all of it): an argument cannot hold 2 MB.
    return subprocess.run(command, input=body, capture_output=True, text=True, timeout=30).returncode == 0


def stored(serve, tenant, log_id):
    try:
        with sqlite3.connect(f"file:{serve.database}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(f'SELECT COUNT(*) FROM "{tenant}" WHERE log_id = ?', (log_id,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def case_forged(serve, broker_port, binary):
    """Messages forged on the broker: a spoofed logpipe-routing-key, a NUL id, a future received_at, a 2 MB text,
    and a tenant header that holds terminal escapes. None is stored; each is parked; `dlq peek` prints no escape."""
    def body(log_id, tenant="victim", text="pwned", received="2026-12-01T00:00:00Z", request_id="r"):
        return json.dumps({"v": 1, "tenant_id": tenant, "log_id": log_id, "text": text, "received_at": received,
                           "request_id": request_id})
    sent = [
        publish_raw(broker_port, "tenant.mallory", body("spoof-1"),
                    {"x-tenant-id": "victim", "logpipe-routing-key": "tenant.victim"}),
        publish_raw(broker_port, "tenant.mallory", body("nul\u0000id", tenant="mallory"), {"x-tenant-id": "mallory"}),
        publish_raw(broker_port, "tenant.mallory", body("future-1", tenant="mallory", received="9999-12-31T23:59:59Z"),
                    {"x-tenant-id": "mallory"}),
        publish_raw(broker_port, "tenant.mallory", body("huge-1", tenant="mallory", text="x" * (2 << 20)),
                    {"x-tenant-id": "mallory"}),
        publish_raw(broker_port, "tenant.mallory", body("esc-1", tenant="mallory", request_id="bad id"),
                    {"x-tenant-id": "mall\x1b[2Jory\ncritical forged"}),
    ]
    deadline = time.time() + 60
    peek = ""
    while time.time() < deadline:
        result = subprocess.run([binary, "dlq", "peek", "--limit", "50"], env=serve.env, capture_output=True, text=True,
                                timeout=60)
        peek = result.stdout
        if sum(1 for line in peek.splitlines() if line.startswith("#")) >= 5:
            break
        time.sleep(0.5)
    forged_stored = stored(serve, "victim", "spoof-1") + sum(stored(serve, "mallory", i) for i in ("future-1", "huge-1", "esc-1"))
    parked = sum(1 for line in peek.splitlines() if line.startswith("#"))
    ok = all(sent) and parked >= 5 and forged_stored == 0 and "\x1b" not in peek and "\ncritical forged" not in peek
    return f"{sum(sent)} published, {forged_stored} stored", 0, ok, peek.encode()[-400:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "logpipe"))
    parser.add_argument("--broker-port", type=int, default=5742)
    parser.add_argument("--http-port", type=int, default=18090)
    arguments = parser.parse_args()
    # Thousands of sockets here and in logpipe (which inherits the limit).
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 20000)), hard))
    broker_env = dict(os.environ, LOGPIPE_BROKER_NAME="hostile", LOGPIPE_BROKER_PORT=str(arguments.broker_port),
                      LOGPIPE_BROKER_PLUGINS="none")
    script = os.path.join(ROOT, "broker", "rabbitmq.sh")
    subprocess.run(["bash", script, "start"], env=broker_env, check=True, capture_output=True, timeout=180)
    directory = tempfile.mkdtemp(prefix="logpipe-hostile-")
    serve = Serve(arguments.binary, f"amqp://guest:guest@127.0.0.1:{arguments.broker_port}/", arguments.http_port, directory)
    failures = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if request(serve.port, "GET", "/readiness", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if not serve.alive():
                raise RuntimeError("logpipe serve exited at start")
            time.sleep(0.2)
        bystander = Bystander(serve.port)
        bystander.start()
        if not bystander.wait_for(50, 0, timeout=60):
            raise RuntimeError("the bystander got no 50 answers within 60 s of the start")
        quiet, _ = bystander.p99(0)
        # The bystander's p99 may reach half a second (or 4x its quiet p99) during a refused request; during one
        # that is taken whole (2,000 logs of 64 attributes each, published and stored while the bystander
        # posts: real work on two cores, in a debug build) 2.5 s. Before the fix the same requests took minutes.
        cases = [("OTLP kvlist bomb (4 MiB key, 500k leaves)", case_kvlist_bomb),
                 ("OTLP 60k resource attributes x 2k records", case_resource_times_records),
                 ("OTLP 4.19M empty records (protobuf)", case_empty_records),
                 ("OTLP 2.5M empty records (JSON)", case_empty_records_json),
                 ("Loki 1.3M entries (snappy protobuf)", case_loki_snappy),
                 ("Loki 8k labels x 2k entries (JSON)", case_loki_labels),
                 ("a body that trickles", case_trickle),
                 ("3,000 idle sockets", case_idle_sockets),
                 ("messages forged on the broker", lambda s: case_forged(s, arguments.broker_port, arguments.binary))]
        rows = []
        for name, case in cases:
            before_peak = serve.peak_rss_mb()
            since = time.monotonic()
            started = time.time()
            try:
                sent, status, ok, answer = case(serve)
            except Exception as error:  # a case that cannot even run is a failure
                sent, status, ok, answer = "-", 0, False, str(error).encode()
            seconds = time.time() - started
            # The bystander's requests during the case, and a few begun after it: the window is closed by answers.
            bystander.wait_for(5, time.monotonic(), timeout=10)
            p99, errors = bystander.p99(since)
            alive = serve.alive()
            health = alive and request(serve.port, "GET", "/health", timeout=10)[0] == 200
            growth = serve.peak_rss_mb() - before_peak if alive else -1
            budget = 2.5 if case is case_resource_times_records else max(0.5, 4 * (quiet or 0.01))
            p99_ok = p99 is not None and p99 < budget
            passed = ok and alive and health and 0 <= growth < 400 and p99_ok and errors == 0
            rows.append((name, sent, status, f"{seconds:.1f}", f"{growth:.0f}", f"{(p99 or 0) * 1000:.0f}", errors,
                         "ok" if passed else "FAILED"))
            if not passed:
                failures.append(f"{name}: answer ok={ok} status={status} alive={alive} health={health} "
                                f"rss+{growth:.0f} MB bystander p99={p99} errors={errors}: {answer[:300]!r}")
            if not alive:
                break
        bystander.stop.set()
        bystander.join(timeout=40)
        # Every bystander log answered 202 is stored.
        deadline = time.time() + 60
        missing = bystander.sent
        while time.time() < deadline and missing:
            missing = [log_id for log_id in missing if not stored(serve, "bystander", log_id)]
            time.sleep(0.5)
        print(f"machine: {os.cpu_count()} cores; quiet bystander p99 {quiet * 1000:.0f} ms; "
              f"final RSS {serve.rss_mb() if serve.alive() else 0:.0f} MB, peak {serve.peak_rss_mb() if serve.alive() else 0:.0f} MB")
        print("| case | sent | status | seconds | peak RSS growth (MB) | bystander p99 (ms) | bystander errors | result |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(str(cell) for cell in row) + " |")
        print(f"bystander: {len(bystander.sent)} logs answered 202, {len(missing)} not stored")
        if missing:
            failures.append(f"{len(missing)} bystander logs answered 202 were not stored")
    finally:
        serve.stop()
        subprocess.run(["bash", script, "wipe"], env=broker_env, capture_output=True, timeout=120)
    if failures:
        print("hostile: FAILED", file=sys.stderr)
        for failure in failures:
            print("  " + failure, file=sys.stderr)
        print("serve log tail:\n" + open(serve.log_path, errors="replace").read()[-3000:], file=sys.stderr)
        return 1
    print("hostile: every case answered clearly; the process stayed up, bounded, and kept serving the bystander")
    return 0


if __name__ == "__main__":
    sys.exit(main())
