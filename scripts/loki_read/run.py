# logpipe-venv: .build/loki-venv
"""The Loki read API against clients others wrote, on a real `logpipe serve`.

Starts `logpipe serve` (the store: SQLite in a temporary directory, or the MongoDB test server of
LOGPIPE_TEST_MONGO_URI with --store mongo) on the test broker (LOGPIPE_TEST_AMQP_URL), with API keys made by
`logpipe keys add` (an ingest key and a read key), sends logs of two tenants, then reads them back with:

  - loki-reader-core (PyPI, a Loki query client; installed pinned by scripts/setup.sh --test into .build/loki-venv):
    query_range, an instant metric query, labels, label values and series, with the read key as a Bearer token;
  - requests shaped exactly as Grafana's Loki data source sends them (its pkg/tsdb/loki and language provider):
    the health check, a log query, the log-volume histogram, labels, label values and series, the probes;
  - a WebSocket live tail, as Grafana and logcli open it (a minimal RFC 6455 client below);
  - then `logpipe api` alone, without keys, read from loopback with loki-reader-core's X-Scope-OrgID.

Checks the answers, that an ingest key cannot read and a read key cannot write, and that no answer holds the other
tenant's logs. Exits 1 naming each failed check.

  .build/loki-venv/bin/python scripts/loki_read/run.py [--store sqlite|mongo] [--binary .build/debug/logpipe]
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

from loki_reader_core import LokiClient
from loki_reader_core.exceptions import LokiAuthError, LokiQueryError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILURES = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        FAILURES.append(what)


def request(port, method, path, headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, data.decode(errors="replace")


def go_query(pairs):
    """A query string as Go's url.Values.Encode writes it (Grafana's backend): keys sorted, QueryEscape'd."""
    return urllib.parse.urlencode(sorted(pairs), quote_via=urllib.parse.quote_plus, safe="")


def start(binary, env, port, command="serve"):
    log = open(os.path.join(env["LOGPIPE_TMP"], command + ".log"), "w")
    process = subprocess.Popen([binary, command, "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if request(port, "GET", "/readiness")[0] == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    sys.exit("logpipe %s did not become ready; see %s" % (command, log.name))


def poll(deadline_seconds, condition):
    """Polls until condition() holds or the deadline passes; returns its last value."""
    deadline = time.time() + deadline_seconds
    value = condition()
    while not value and time.time() < deadline:
        time.sleep(0.2)
        value = condition()
    return value


# -- a minimal WebSocket client (RFC 6455): what Grafana's backend and logcli do for the tail -------------------

def ws_connect(port, path, headers):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"] + ["%s: %s" % item for item in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise OSError("the server closed the connection during the handshake")
        head += chunk
    status = head.split(b"\r\n")[0]
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    if b" 101 " not in status or accept not in head:
        raise OSError("no WebSocket upgrade: %r" % status)
    return sock


def ws_recv_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise OSError("the WebSocket closed")
        data += chunk
    return data


def ws_send(sock, opcode, payload=b""):
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    length = len(payload)
    header += bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + length.to_bytes(2, "big")
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def ws_message(sock, timeout):
    """The next text message (pings answered), or None when the server closes."""
    sock.settimeout(timeout)
    message = b""
    while True:
        first, second = ws_recv_exact(sock, 2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(ws_recv_exact(sock, 2), "big")
        elif length == 127:
            length = int.from_bytes(ws_recv_exact(sock, 8), "big")
        payload = ws_recv_exact(sock, length)
        opcode = first & 0x0F
        if opcode == 8:
            return None
        if opcode == 9:
            ws_send(sock, 10, payload)
            continue
        if opcode in (0, 1, 2):
            message += payload
            if first & 0x80:
                return message.decode()


# -- the run ------------------------------------------------------------------------------------------------------

def make_key(binary, env, keys_file, tenant, scopes):
    arguments = [binary, "keys", "add", "--file", keys_file, "--tenant", tenant, "--note", "loki read test"]
    for scope in scopes:
        arguments += ["--scope", scope]
    return subprocess.run(arguments, env=env, check=True, capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "mongo"], default="sqlite")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/debug/logpipe"))
    parser.add_argument("--port", type=int, default=18131)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    tmp = tempfile.mkdtemp(prefix="logpipe-loki-read-")
    env = dict(os.environ, LOGPIPE_TMP=tmp, LOG_LEVEL="warning", LOGPIPE_AMQP_URL=os.environ["LOGPIPE_TEST_AMQP_URL"],
               LOGPIPE_NAMESPACE="lokiread-%d-%s" % (os.getpid(), args.store), LOGPIPE_WORKER_HTTP_PORT="0",
               LOGPIPE_HTTP_IDLE_TIMEOUT_S="2")
    if args.store == "mongo":
        env.update(LOGPIPE_MONGO_URI=os.environ["LOGPIPE_TEST_MONGO_URI"], LOGPIPE_MONGO_DB="lokiread%d" % os.getpid())
    else:
        env.update(LOGPIPE_SQLITE_PATH=os.path.join(tmp, "logs.sqlite"))
    keys_file = os.path.join(tmp, "keys")
    ingest_key = make_key(binary, env, keys_file, "shop", ["ingest"])
    rival_key = make_key(binary, env, keys_file, "rival", [])
    read_key = make_key(binary, env, keys_file, "shop", ["read"])
    env["LOGPIPE_API_KEYS_FILE"] = keys_file
    port = args.port + (1 if args.store == "mongo" else 0)
    serve = start(binary, env, port)
    processes = [serve]
    try:
        run(port, env, binary, ingest_key, rival_key, read_key, processes, args.store)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    if FAILURES:
        print("%d check(s) failed (%s store): %s" % (len(FAILURES), args.store, "; ".join(FAILURES)), file=sys.stderr)
        sys.exit(1)
    print("loki read API: every check passed (%s store)" % args.store)


def send(port, key, logs):
    body = "\n".join(json.dumps(log) for log in logs)
    return request(port, "POST", "/ingest", {"Authorization": "Bearer " + key, "Content-Type": "application/x-ndjson"}, body)[0]


def run(port, env, binary, ingest_key, rival_key, read_key, processes, store):
    logs = []
    for n in range(40):
        level = ["info", "info", "warn", "error"][n % 4]
        text = "GET /orders/%d %s in %dms" % (n, "timeout" if n % 10 == 3 else "ok", 10 + n)
        logs.append({"tenant_id": "shop", "log_id": "shop-%d" % n, "text": text, "level": level,
                     "source": "checkout" if n % 2 else "web", "attributes": {"region": "eu" if n < 20 else "us", "status": 200 + n % 3}})
    logs.append({"tenant_id": "shop", "log_id": "shop-pii", "text": "payment failed for bob@example.com", "level": "error", "source": "checkout"})
    check(send(port, ingest_key, logs) == 202, "the ingest key sends 41 logs (202)")
    check(send(port, rival_key, [{"tenant_id": "rival", "text": "rival secret timeout", "level": "error", "source": "checkout"}]) == 202,
          "another tenant's log is sent")
    start_ns = (int(time.time()) - 600) * 10**9
    bearer = {"Authorization": "Bearer " + read_key}

    client = LokiClient(base_url="http://127.0.0.1:%d" % port, timeout=60)
    client.session.headers["Authorization"] = "Bearer " + read_key

    def stored():
        return client.query_range('{source=~".+"}', start=start_ns, end=time.time_ns() + 10**9, limit=1000).total_entries

    check(poll(60, lambda: stored() == 41) is True, "loki-reader-core: all 41 stored logs are read back (query_range)")
    result = client.query_range('{source="checkout", region="eu"} |= "timeout" != "/orders/3 "', start=start_ns,
                                end=time.time_ns() + 10**9, limit=100)
    lines = sorted(entry.message for stream in result.streams for entry in stream.entries)
    check(lines == ["GET /orders/13 timeout in 23ms"],
          "loki-reader-core: a selector with chained line filters selects the two timeouts (%s)" % lines)
    check(all(stream.labels.get("source") == "checkout" and "region" in stream.labels for stream in result.streams),
          "loki-reader-core: streams carry level, source and attributes as labels")
    regex = client.query_range('{level=~"warn|error", region="eu"} |~ "orders/1[0-9] "', start=start_ns, end=time.time_ns() + 10**9)
    check(sorted(e.message.split(" ")[1] for s in regex.streams for e in s.entries)
          == ["/orders/10", "/orders/11", "/orders/14", "/orders/15", "/orders/18", "/orders/19"],
          "loki-reader-core: regex label and line matchers")
    pii = client.query_range('{level="error"} |= "payment failed"', start=start_ns, end=time.time_ns() + 10**9)
    texts = [e.message for s in pii.streams for e in s.entries]
    check(texts == ["payment failed for [REDACTED:EMAIL]"], "the read API serves the stored, redacted text (%s)" % texts)
    everything = client.query_range("{}", start=start_ns, end=time.time_ns() + 10**9, limit=5000)
    check(everything.total_entries == 41 and not any("rival" in e.message for s in everything.streams for e in s.entries),
          "the read key never sees the other tenant's logs")
    metric = client.query(logql='sum by (level) (count_over_time({source=~".+"}[1h]))')
    counts = {series.labels.get("level"): series.samples[-1].value for series in metric.metric_series} if metric.metric_series else {}
    check(counts == {"info": 20, "warn": 10, "error": 11}, "loki-reader-core: an instant metric query counts by level (%s)" % counts)
    check(client.get_labels(start=start_ns, end=time.time_ns() + 10**9) == ["level", "region", "source", "status"], "loki-reader-core: label names")
    check(client.get_label_values("region", start=start_ns, end=time.time_ns() + 10**9) == ["eu", "us"], "loki-reader-core: label values")
    series = client.get_series(['{level="error", source="checkout"}'], start=start_ns, end=time.time_ns() + 10**9)
    check(len(series) >= 2 and all(s.get("level") == "error" for s in series), "loki-reader-core: series")

    # Grafana's Loki data source: its backend's requests, parameters and headers as its source builds them.
    grafana = dict(bearer, **{"User-Agent": "Grafana/11.1.0", "X-Grafana-Org-Id": "1", "Accept-Encoding": "gzip"})
    status, body = request(port, "GET", "/loki/api/v1/query?" + go_query([("direction", "backward"), ("query", "vector(1)+vector(1)"),
                                                                          ("time", "4000000000")]), grafana)
    # Loki reads a time of up to 10 digits as seconds, so Grafana's time.Unix(4, 0).UnixNano() is 4e9 s.
    check(status == 200 and body["data"]["result"][0]["value"] == [4000000000, "2"], "Grafana's health check answers 2")
    now = time.time_ns()
    range_params = [("start", str(now - 3600 * 10**9)), ("end", str(now + 10**9))]
    status, body = request(port, "GET", "/loki/api/v1/query_range?" + go_query(
        range_params + [("direction", "backward"), ("limit", "1000"), ("query", '{source="web"} |= "ok"'), ("step", "2000ms")]),
        dict(grafana, **{"X-Query-Tags": "Source=logsample"}))
    check(status == 200 and body["data"]["resultType"] == "streams"
          and sum(len(s["values"]) for s in body["data"]["result"]) == 20, "Grafana's log query (limit=1000, step in ms)")
    status, body = request(port, "GET", "/loki/api/v1/query_range?" + go_query(
        range_params + [("direction", "backward"),
                        ("query", "sum by (level, detected_level) (count_over_time({source=~\".+\"} | drop __error__[1m]))"),
                        ("step", "60000ms")]), dict(grafana, **{"X-Query-Tags": "Source=logvolhist"}))
    volume = {s["metric"].get("level"): sum(int(v[1]) for v in s["values"]) for s in body["data"]["result"]} if status == 200 else {}
    check(volume == {"info": 20, "warn": 10, "error": 11}, "Grafana's log-volume histogram (matrix by level): %s" % volume)
    status, body = request(port, "GET", "/loki/api/v1/labels?" + go_query(range_params), grafana)
    check(status == 200 and body["data"] == ["level", "region", "source", "status"], "Grafana's label names request")
    status, body = request(port, "GET", "/loki/api/v1/label/source/values?" + go_query(range_params + [("query", '{level="info"}')]), grafana)
    check(status == 200 and body["data"] == ["checkout", "web"], "Grafana's label values request with a selector")
    status, body = request(port, "GET", "/loki/api/v1/series?" + go_query(range_params + [("match[]", '{region="us"}')]), grafana)
    check(status == 200 and body["data"] and all(s["region"] == "us" for s in body["data"]), "Grafana's series request (match[])")
    check(request(port, "GET", "/loki/api/v1/detected_labels?" + go_query(range_params), grafana)[0] == 404,
          "detected_labels is 404, so Grafana falls back to /labels")
    check(request(port, "GET", "/loki/api/v2alpha/tail", grafana)[0] != 400, "the v2alpha tail probe is not a 400 (Grafana then uses v1)")
    status, body = request(port, "GET", "/loki/api/v1/query_range?" + go_query([("query", '{source="web"} | json')]), grafana)
    check(status == 400 and "| json" in body.get("message", ""), "an unsupported stage is a 400 whose message names it")

    # Scopes.
    try:
        LokiClient(base_url="http://127.0.0.1:%d" % port, org_id="shop").query_range("{}", start=start_ns, end=time.time_ns())
        check(False, "keys on: a request without a key is refused")
    except LokiAuthError:
        check(True, "keys on: a request without a key is refused (401)")
    ingest_reader = LokiClient(base_url="http://127.0.0.1:%d" % port)
    ingest_reader.session.headers["Authorization"] = "Bearer " + ingest_key
    try:
        ingest_reader.get_labels()
        check(False, "an ingest key cannot read")
    except LokiAuthError:
        check(True, "an ingest key cannot read (403)")
    check(send(port, read_key, [{"tenant_id": "shop", "text": "x"}]) == 403, "a read key cannot write (403)")

    # Live tail over a WebSocket.
    path = "/loki/api/v1/tail?" + go_query([("query", '{source="checkout"} |= "tail-me"'), ("start", str(start_ns)), ("limit", "10")])
    sock = ws_connect(port, path, bearer)
    try:
        # Not a wait for something: the tail must stay open while idle for longer than the HTTP idle timeout (2 s).
        time.sleep(3)
        check(send(port, ingest_key, [{"tenant_id": "shop", "log_id": "tail-1", "text": "tail-me first", "source": "checkout"}]) == 202,
              "a log for the tail is sent")
        seen = set()
        deadline = time.time() + 30
        while "tail-me second" not in seen and time.time() < deadline:
            message = ws_message(sock, max(1, deadline - time.time()))
            if message is None:
                break
            for stream in json.loads(message)["streams"]:
                seen.update(value[1] for value in stream["values"])
            if "tail-me first" in seen and "tail-me second" not in seen:
                send(port, ingest_key, [{"tenant_id": "shop", "log_id": "tail-2", "text": "tail-me second", "source": "checkout"},
                                        {"tenant_id": "shop", "log_id": "tail-3", "text": "tail-me but web", "source": "web"}])
        check(seen == {"tail-me first", "tail-me second"}, "the WebSocket tail streams new matching logs, once each (%s)" % sorted(seen))
        ws_send(sock, 8, b"\x03\xe8")
    except (OSError, ValueError) as error:
        check(False, "the WebSocket tail: %s" % error)
    finally:
        sock.close()

    # `logpipe api` alone, without keys: loopback reads the tenant named in X-Scope-OrgID (loki-reader-core's org_id).
    open_env = dict(env)
    del open_env["LOGPIPE_API_KEYS_FILE"]
    api = start(binary, open_env, port + 10, command="api")
    processes.append(api)
    reader = LokiClient(base_url="http://127.0.0.1:%d" % (port + 10), org_id="shop")
    entries = reader.query_range("{}", start=start_ns, end=time.time_ns() + 10**9, limit=5000).total_entries
    check(entries == 44, "keys off: loki-reader-core with X-Scope-OrgID reads the tenant from loopback (%d)" % entries)
    try:
        LokiClient(base_url="http://127.0.0.1:%d" % (port + 10)).get_labels()
        check(False, "keys off: a read without X-Scope-OrgID is refused")
    except LokiQueryError as error:
        check("X-Scope-OrgID" in str(error), "keys off: a read without X-Scope-OrgID is refused naming the header")


if __name__ == "__main__":
    main()
