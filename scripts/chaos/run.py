#!/usr/bin/python3
"""The chaos soak: "a 202 means the log is stored exactly once", checked under faults.

A private RabbitMQ node (its own name, port and directory), `logpipe api` and `logpipe worker` as separate
processes, and a store (SQLite, or MongoDB's store on a private SecantusDB server: an independent
MongoDB-wire-protocol server, not MongoDB). A load generator posts single logs
and NDJSON batches for several tenants with known log ids and keeps every id that got a 202; a few poison
messages are published straight to the broker on purpose. Meanwhile a fault injector, at moments drawn from
the seed, closes the API's and the worker's broker connections (rabbitmqctl close_connection), stops and
starts the broker, SIGKILLs and restarts the worker, makes the store fail for a while (a locked SQLite file;
SecantusDB's failCommand: step-down codes, closed connections, writes slower than the socket timeout, write
concern errors), and raises a broker memory alarm.

At the end, with faults stopped and the queues drained: every id that got a 202 is stored exactly once,
nothing that was never posted is stored, the work and retry queues are empty, and the DLQ holds exactly the
poison messages. Prints the faults injected and the counts; exits 1 on any loss.

  python3 scripts/chaos/run.py --seconds 60 --seed 7 [--store sqlite|mongo] [--binary .build/debug/logpipe]
"""
import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TENANTS = ["acme", "beta", "gamma", "delta"]
HEARTBEAT_SECONDS = 5
CONFIRM_TIMEOUT_SECONDS = 3
sys.path.insert(0, os.path.join(ROOT, "scripts", "netfaults"))
from netlab import Link  # noqa: E402


class Broker:
    """The run's private node; with a link (--net), inside the link's namespace, reached through its veth."""

    def __init__(self, name, port, link=None):
        self.env = dict(os.environ, LOGPIPE_BROKER_NAME=name, LOGPIPE_BROKER_PORT=str(port), LOGPIPE_BROKER_PLUGINS="none")
        self.port, self.link, self.host = port, link, "127.0.0.1"
        self.log_dir = f"/tmp/logpipe-broker-{name}/log"
        if link is not None:
            self.host = link.address
            self.env.update(LOGPIPE_BROKER_LISTEN="0.0.0.0", LOGPIPE_BROKER_HOST=link.address)

    def script(self, *arguments, check=True):
        command = ["bash", os.path.join(ROOT, "broker", "rabbitmq.sh"), *arguments]
        if self.link is not None:
            command = self.link.command(*command)
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"rabbitmq.sh {' '.join(arguments)}: {result.stderr[-500:]}")
        return result.stdout

    def wait_port_closed(self, timeout=60):
        """Until the stopped node's listener is gone (the VM may still be exiting when stop returns)."""
        import socket
        deadline = time.time() + timeout
        while time.time() < deadline:
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex((self.host, self.port)) != 0:
                    return
            time.sleep(0.1)

    def ctl(self, *arguments):
        return self.script("ctl", *arguments, check=False)

    def queues(self, namespace):
        counts = {}
        for line in self.ctl("list_queues", "name", "messages", "--quiet", "--no-table-headers").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].startswith(namespace + ".") and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
        return counts


class Process:
    """A logpipe process with its log file; restartable."""

    def __init__(self, binary, arguments, env, log):
        self.binary, self.arguments, self.env, self.log = binary, arguments, env, log
        self.process = None

    def start(self):
        self.process = subprocess.Popen([self.binary, *self.arguments], env=self.env, stdout=open(self.log, "a"),
                                        stderr=subprocess.STDOUT)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self):
        return self.process is not None and self.process.poll() is None


def error_code(body):
    """The stable code of an error answer (`{"error": {"code": ...}}`), or None when the body is not one."""
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


class Load(threading.Thread):
    """Posts single logs and NDJSON batches with known ids; keeps every id that got a 202."""

    def __init__(self, port, seed, index, stop, seconds_per_log=0.0):
        super().__init__(daemon=True)
        self.port, self.random, self.index, self.stop = port, random.Random(seed * 1000 + index), index, stop
        self.seconds_per_log = seconds_per_log  # pacing: 0 posts as fast as the API answers
        self.accepted, self.attempted = set(), set()
        self.statuses = {}
        self.error_codes = {}  # (status, the body's error.code) of every answer other than 202
        self.sequence = 0
        self.slowest = 0.0  # seconds, the longest request (answered or failed)

    def next_id(self):
        self.sequence += 1
        return f"chaos-{self.index}-{self.sequence}"

    def run(self):
        connection = None
        next_post = time.monotonic()
        while not self.stop.is_set():
            if self.seconds_per_log:
                # Paced: this client's share of --rate. Time lost to a slow request is not made up for with a burst
                # (one would land right after a heal, when recovery is measured).
                next_post = max(next_post, time.monotonic())
                if self.stop.wait(max(0.0, next_post - time.monotonic())):
                    break
            tenant = self.random.choice(TENANTS)
            if self.random.random() < 0.7:
                ids = [self.next_id()]
                body = json.dumps({"tenant_id": tenant, "log_id": ids[0], "text": f"user{ids[0]}@example.com logged in"})
                content_type = "application/json"
            else:
                ids = [self.next_id() for _ in range(self.random.randint(2, 40))]
                body = "\n".join(json.dumps({"tenant_id": self.random.choice(TENANTS), "log_id": i, "text": f"call 555-0100 {i}"}) for i in ids)
                content_type = "application/x-ndjson"
            self.attempted.update(ids)
            next_post += len(ids) * self.seconds_per_log
            started = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                connection.request("POST", "/ingest", body=body.encode(), headers={"Content-Type": content_type})
                response = connection.getresponse()
                answer = response.read()
                status = response.status
                if status != 202:
                    key = (status, error_code(answer))
                    self.error_codes[key] = self.error_codes.get(key, 0) + 1
            except (OSError, http.client.HTTPException):
                status = "connection"
                connection = None
                time.sleep(0.05)
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 202:
                self.accepted.update(ids)
            elif status != "connection":
                time.sleep(0.02)


def wait_http(port, path="/readiness", timeout=60, process=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and not process.alive():
            return False
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    return False


def ready(port):
    """Whether /readiness answers 200 within a second (no answer counts as not ready)."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/readiness")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False


class NetFaults:
    """The --net fault set. Each fault cuts or degrades one link (broker or store) while the load runs: a black hole
    longer than twice the AMQP heartbeat (or, for the store, than the driver's socket timeout), 200 ms +- 100 ms
    of delay, or 10-30 % loss. While it lasts, /readiness of the API and the worker is polled (when did each turn
    red); after the heal, a probe log is posted until it gets a 202 and the store is polled until it holds it:
    that time is the fault's recovery."""

    def __init__(self, rng, api_port, worker_port, heartbeat, store, seed):
        self.rng, self.api_port, self.worker_port, self.heartbeat = rng, api_port, worker_port, heartbeat
        self.store, self.seed = store, seed
        self.results = []
        self.probes, self.probes_posted = set(), set()

    def inject(self, fault, link):
        if fault == "black_hole_broker":
            duration = self.rng.uniform(self.heartbeat * 2 + 1, self.heartbeat * 3)
            link.black_hole()
        elif fault == "black_hole_store":
            duration = self.rng.uniform(8, 12)  # the worker's socketTimeoutMS is 5 s
            link.black_hole()
        elif fault.startswith("slow_link"):
            duration = self.rng.uniform(4, 8)
            link.slow(200, 100, self.seed + len(self.results))
        else:
            duration = self.rng.uniform(4, 8)
            link.lossy(self.rng.uniform(0.1, 0.3))
        detail = link.fault
        started = time.monotonic()
        api_red = worker_red = None
        while time.monotonic() - started < duration:
            if api_red is None and not ready(self.api_port):
                api_red = time.monotonic() - started
            if worker_red is None and not ready(self.worker_port):
                worker_red = time.monotonic() - started
            time.sleep(0.2)
        link.heal()
        healed = time.monotonic()
        self.results.append({"fault": fault, "detail": detail, "seconds": duration, "api_red": api_red,
                             "worker_red": worker_red, "recovery": self.probe(healed)})

    def probe(self, healed, timeout=120):
        """Seconds from the heal until a log posted after it is stored; None when that took over `timeout`."""
        log_id = f"probe-{len(self.results)}"
        accepted = False
        while time.monotonic() - healed < timeout:
            if not accepted:
                self.probes_posted.add(log_id)
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=10)
                    body = json.dumps({"tenant_id": "acme", "log_id": log_id, "text": "probe after a heal"})
                    connection.request("POST", "/ingest", body=body.encode(), headers={"Content-Type": "application/json"})
                    accepted = connection.getresponse().status == 202
                except (OSError, http.client.HTTPException):
                    pass
                if accepted:
                    self.probes.add(log_id)
            elif self.store.has("acme", log_id):
                return time.monotonic() - healed
            time.sleep(0.1)
        return None


    def report(self, slowest, broker_log_dir):
        """Prints each fault and the recovery times per kind; returns True when the network faults broke a promise."""
        def seconds(value):
            return "-" if value is None else f"{value:.1f}"
        print("| network fault | for (s) | API readiness red after (s) | worker readiness red after (s) | recovered after (s) |")
        print("|---|---|---|---|---|")
        for result in self.results:
            print(f"| {result['fault']} ({result['detail']}) | {result['seconds']:.1f} | {seconds(result['api_red'])} | "
                  f"{seconds(result['worker_red'])} | {seconds(result['recovery'])} |")
        print("| fault kind | injected | recovery p50 (s) | recovery max (s) |")
        print("|---|---|---|---|")
        for kind in sorted({result["fault"] for result in self.results}):
            times = sorted(result["recovery"] for result in self.results if result["fault"] == kind and result["recovery"] is not None)
            count = sum(1 for result in self.results if result["fault"] == kind)
            print(f"| {kind} | {count} | {seconds(times[len(times) // 2] if times else None)} | {seconds(times[-1] if times else None)} |")
        failed = False
        for result in self.results:
            if result["recovery"] is None:
                print(f"chaos: no recovery within 120 s after {result['fault']} ({result['detail']})", file=sys.stderr)
                failed = True
            # rabbitmq-c declares the peer dead after two heartbeat intervals without a frame; the poll adds up to
            # 1.2 s, and a loaded machine a little more.
            if result["fault"] == "black_hole_broker" and (result["api_red"] is None or result["api_red"] > self.heartbeat * 2 + 2):
                print(f"chaos: the API's readiness did not turn red within twice the heartbeat of a black-holed broker "
                      f"(after {seconds(result['api_red'])} s)", file=sys.stderr)
                failed = True
        # No request hangs on a dark link: docs/operations.md promises an answer within the confirm timeout and
        # one to two seconds. (Before the coalescer failed the logs waiting behind a timed-out message with it, a
        # request waited out that message's timeout and then its own: 6.0 s with a 3 s timeout.)
        bound = CONFIRM_TIMEOUT_SECONDS + 2
        if slowest > bound:
            print(f"chaos: a request took {slowest:.1f} s, over {bound} s (the confirm timeout, and 2 s)", file=sys.stderr)
            failed = True
        # An ack of a delivery tag from before a cut, sent on the new channel, is a channel error the broker logs.
        stale = subprocess.run(["grep", "-rl", "unknown delivery tag", broker_log_dir], capture_output=True, text=True).stdout
        if stale:
            print(f"chaos: the broker saw an ack of an unknown delivery tag ({stale.strip()})", file=sys.stderr)
            failed = True
        return failed


class SQLiteStore:
    def __init__(self, path):
        self.path = path
        self.lock_connection = None

    def fail(self):
        """Holds an exclusive lock: the worker's writes time out (SQLITE_BUSY) until it is released."""
        self.lock_connection = sqlite3.connect(self.path, timeout=1, isolation_level=None)
        self.lock_connection.execute("BEGIN EXCLUSIVE")

    def heal(self):
        if self.lock_connection:
            self.lock_connection.execute("ROLLBACK")
            self.lock_connection.close()
            self.lock_connection = None

    def has(self, tenant, log_id):
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return any(connection.execute(f'SELECT 1 FROM "{table}" WHERE log_id = ?', (log_id,)).fetchone()
                       for table in tables if table == tenant)
        finally:
            connection.close()

    def stored(self):
        ids = {}
        connection = sqlite3.connect(self.path, timeout=30)
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for (log_id, tenant) in connection.execute(f'SELECT log_id, tenant_id FROM "{table}"'):
                ids.setdefault(log_id, []).append(tenant)
        connection.close()
        return ids


class SecantusStore:
    """SecantusDB, an independent MongoDB-wire-protocol server (not MongoDB): a private server of the run's own
    (scripts/secantus.sh, its directory under the run's), read back as root through Debian's pymongo. Its faults come
    from the server itself: configureFailPoint failCommand on the worker's inserts (scoped to the worker's appName,
    so reading back is never failed) -- the step-down codes, closed connections, writes slower than the socket
    timeout, write concern errors."""

    APP_NAME = "logpipe-chaos-worker"

    def __init__(self, work, database, port, seed=0, link=None):
        self.database = database
        self.random = random.Random(seed)
        self.link = link
        self.env = dict(os.environ, LOGPIPE_SECANTUS_NAME=f"chaos{port}", LOGPIPE_SECANTUS_PORT=str(port),
                        LOGPIPE_SECANTUS_DIR=f"{work}/secantus", LOGPIPE_SECANTUS_TLS_DIR="")
        if link is not None:  # --net: inside the link's namespace, reached through its veth
            self.env.update(LOGPIPE_SECANTUS_LISTEN="0.0.0.0", LOGPIPE_SECANTUS_HOST=link.address)
        self.script("wipe")
        self.script("start")
        self.app_uri = self.script("url").strip()
        import pymongo  # Debian's python3-pymongo
        self.client = pymongo.MongoClient(self.script("admin-url").strip(), serverSelectionTimeoutMS=10000)
        self.faults = {}

    def script(self, *arguments):
        command = ["bash", os.path.join(ROOT, "scripts", "secantus.sh"), *arguments]
        if self.link is not None:
            command = self.link.command(*command)
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"secantus.sh {' '.join(arguments)}: {result.stderr[-500:]}")
        return result.stdout

    @property
    def uri(self):
        return (self.app_uri + "&serverSelectionTimeoutMS=3000&connectTimeoutMS=3000&socketTimeoutMS=5000"
                + f"&appName={self.APP_NAME}")

    def fail(self):
        """The worker's inserts fail until heal(), in one of the server's ways (drawn from the soak's seed)."""
        kind = self.random.choice(["step_down", "close_connection", "slower_than_socket_timeout", "write_concern_error"])
        self.faults[kind] = self.faults.get(kind, 0) + 1
        data = {"failCommands": ["insert"], "appName": self.APP_NAME}
        if kind == "step_down":
            data.update(errorCode=self.random.choice([91, 189, 10107, 11602]), errorLabels=["RetryableWriteError"])
        elif kind == "close_connection":
            data.update(closeConnection=True)
        elif kind == "slower_than_socket_timeout":
            data.update(blockConnection=True, blockTimeMS=6000)  # the worker's socketTimeoutMS is 5000
        else:
            data.update(writeConcernError={"code": 64, "errmsg": "waiting for replication timed out"})
        self.client.admin.command("configureFailPoint", "failCommand", mode="alwaysOn", data=data)

    def heal(self):
        self.client.admin.command("configureFailPoint", "failCommand", mode="off")

    def has(self, tenant, log_id):
        return self.client[self.database][tenant].find_one({"_id": log_id}, {"_id": 1}) is not None

    def stored(self):
        ids = {}
        database = self.client[self.database]
        for name in database.list_collection_names():
            page, skip = 20_000, 0
            while True:
                documents = list(database[name].find({}, {"tenant_id": 1}, sort=[("_id", 1)], skip=skip, limit=page))
                for document in documents:
                    ids.setdefault(document["_id"], []).append(document.get("tenant_id"))
                if len(documents) < page:
                    break
                skip += page
        return ids

    def close(self):
        self.client.close()
        self.script("wipe")


def main():
    """Runs the soak; whatever happens, the processes, the broker node and the store's server are stopped."""
    cleanup = []
    try:
        return soak(cleanup)
    finally:
        for action in reversed(cleanup):
            try:
                action()
            except Exception as error:  # noqa: BLE001 -- cleanup goes on
                print(f"chaos: cleanup: {error}", file=sys.stderr)


def soak(cleanup):
    parser = argparse.ArgumentParser(description="chaos soak of logpipe")
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--store", choices=["sqlite", "mongo"], default="sqlite")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "logpipe"))
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--broker-port", type=int, default=5732)
    parser.add_argument("--store-port", type=int, default=27932, help="SecantusDB's port with --store mongo")
    parser.add_argument("--net", action="store_true",
                        help="the network fault set instead of the process one: the broker (and with --store mongo the "
                             "store) in a network namespace of the run's own, its veth black-holed, slowed and lossy")
    parser.add_argument("--rate", type=float, default=None,
                        help="logs per second over all clients (0: as fast as the API answers); default 0, and with "
                             "--net 800, well under what the worker stores into SecantusDB through a degraded link, so a "
                             "recovery measures the link and not a backlog that outgrew the store")
    options = parser.parse_args()
    if options.rate is None:
        options.rate = 800.0 if options.net else 0.0
    rng = random.Random(options.seed)
    work = f"/tmp/logpipe-chaos-{options.seed}-{options.store}"
    subprocess.run(["rm", "-rf", work], check=True)
    os.makedirs(work)
    namespace = f"chaos{options.seed % 100000}"
    broker_link = store_link = None
    if options.net:
        broker_link = Link("cb", 61).create()
        cleanup.append(broker_link.close)
        if options.store == "mongo":
            store_link = Link("cs", 62).create()
            cleanup.append(store_link.close)
    broker = Broker(f"chaos{options.broker_port}", options.broker_port, broker_link)
    broker.script("wipe", check=False)
    broker.script("start")
    cleanup.append(lambda: broker.script("wipe", check=False))
    api_port, worker_port = 18100 + options.seed % 500, 18700 + options.seed % 500
    env = dict(os.environ, LOGPIPE_AMQP_URL=f"amqp://guest:guest@{broker.host}:{options.broker_port}/", LOGPIPE_NAMESPACE=namespace,
               LOGPIPE_RETRY_DELAYS="200ms,1s,2s", LOGPIPE_MAX_ATTEMPTS="100", LOGPIPE_CONFIRM_TIMEOUT_MS=str(CONFIRM_TIMEOUT_SECONDS * 1000),
               LOG_LEVEL="warning", LOGPIPE_AMQP_HEARTBEAT=str(HEARTBEAT_SECONDS))
    if options.store == "sqlite":
        store = SQLiteStore(f"{work}/logs.sqlite")
        env["LOGPIPE_SQLITE_PATH"] = store.path
    else:
        store = SecantusStore(work, f"chaos{options.seed}", options.store_port, options.seed, store_link)
        cleanup.append(store.close)
        env["LOGPIPE_MONGO_URI"] = store.uri
        env["LOGPIPE_MONGO_DB"] = store.database
    api = Process(options.binary, ["api", "--host", "127.0.0.1", "--port", str(api_port)], env, f"{work}/api.log")
    worker = Process(options.binary, ["worker"], dict(env, LOGPIPE_WORKER_HTTP_PORT=str(worker_port)), f"{work}/worker.log")
    api.start()
    worker.start()
    cleanup.append(api.stop)
    cleanup.append(worker.stop)
    if not wait_http(api_port, process=api) or not wait_http(worker_port, process=worker):
        print(f"chaos: the API or the worker did not become ready (logs in {work})", file=sys.stderr)
        return 1

    # Poison messages published on purpose: the only ones the DLQ may hold at the end.
    poison = 0
    for body, routing in ((b"not json", "tenant.acme"), (b'{"v":1,"tenant_id":"beta","log_id":"poison-1","text":"x","received_at":"2026-12-01T00:00:00Z","request_id":"r"}', "tenant.acme")):
        poison += publish_raw(broker.host, options.broker_port, namespace, routing, body)

    net = NetFaults(rng, api_port, worker_port, HEARTBEAT_SECONDS, store, options.seed)
    stop = threading.Event()
    seconds_per_log = options.clients / options.rate if options.rate > 0 else 0.0
    clients = [Load(api_port, options.seed, index, stop, seconds_per_log) for index in range(options.clients)]
    for client in clients:
        client.start()
    faults = {}
    schedule = []
    deadline = time.time() + options.seconds
    # The network faults last seconds each (and their recoveries longer): a run with --net goes on past --seconds
    # until it has injected every kind once.
    while time.time() < deadline or (options.net and schedule):
        time.sleep(rng.uniform(1.0, 4.0))
        if time.time() >= deadline and not (options.net and schedule):
            break
        # Every kind once per round, in an order drawn from the seed: a short run sees each of them.
        if not schedule:
            if options.net:
                schedule = [f"{kind}_{target}" for kind in ("black_hole", "slow_link", "lossy_link")
                            for target, link in (("broker", broker_link), ("store", store_link)) if link is not None]
            else:
                schedule = ["close_api_connection", "close_worker_connection", "restart_broker", "kill_worker", "store_failure", "memory_alarm"]
            rng.shuffle(schedule)
        fault = schedule.pop()
        faults[fault] = faults.get(fault, 0) + 1
        if options.net:
            net.inject(fault, broker_link if fault.endswith("_broker") else store_link)
        elif fault in ("close_api_connection", "close_worker_connection"):
            name = "logpipe-api" if fault == "close_api_connection" else "logpipe-worker"
            for line in broker.ctl("list_connections", "pid", "client_properties", "--quiet", "--no-table-headers").splitlines():
                if f'"{name}"' in line or f"<<\"{name}\">>" in line or name in line:
                    broker.ctl("close_connection", line.split()[0], "chaos")
        elif fault == "restart_broker":
            broker.script("kill" if rng.random() < 0.5 else "stop")
            broker.wait_port_closed()
            time.sleep(rng.uniform(0.5, 2.0))
            broker.script("start")
        elif fault == "kill_worker":
            worker.kill()
            time.sleep(rng.uniform(0.2, 1.5))
            worker.start()
        elif fault == "store_failure":
            store.fail()
            time.sleep(rng.uniform(0.5, 3.0))
            store.heal()
        elif fault == "memory_alarm":
            broker.ctl("set_vm_memory_high_watermark", "0.000001")
            time.sleep(rng.uniform(0.5, 2.0))
            broker.ctl("set_vm_memory_high_watermark", "0.4")
    stop.set()
    for client in clients:
        client.join(timeout=30)
    if not worker.alive():
        worker.start()

    # Drain: the work and retry queues empty, the worker idle.
    drained = False
    drain_deadline = time.time() + 120
    while time.time() < drain_deadline:
        counts = broker.queues(namespace)
        waiting = sum(count for queue, count in counts.items() if not queue.endswith(".dlq"))
        if counts and waiting == 0:
            time.sleep(1.0)  # the worker's last batch: written, then acked
            counts = broker.queues(namespace)
            if sum(count for queue, count in counts.items() if not queue.endswith(".dlq")) == 0:
                drained = True
                break
        time.sleep(0.5)
    counts = broker.queues(namespace)
    parked = counts.get(f"{namespace}.dlq", -1)

    accepted = set().union(net.probes, *(client.accepted for client in clients))
    attempted = set().union(net.probes_posted, *(client.attempted for client in clients))
    statuses = {}
    for client in clients:
        for status, count in client.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    stored = store.stored()
    lost = sorted(accepted - stored.keys())
    unexpected = sorted(set(stored) - attempted)
    duplicates = sorted(log_id for log_id, tenants in stored.items() if len(tenants) > 1)

    pacing = f", paced to {options.rate:g} logs/s" if options.rate > 0 else ""
    print(f"chaos soak: {options.seconds} s, seed {options.seed}, store {options.store}, {options.clients} clients{pacing}")
    print("| fault | injected |")
    print("|---|---|")
    for fault in sorted(faults):
        print(f"| {fault} | {faults[fault]} |")
    for kind, count in sorted(getattr(store, "faults", {}).items()):
        print(f"| store_failure: {kind} | {count} |")
    print("| count | value |")
    print("|---|---|")
    rows = [("requests by status", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))),
            ("logs posted", len(attempted)), ("logs accepted (202)", len(accepted)), ("logs stored", len(stored)),
            ("accepted and stored", len(accepted & stored.keys())), ("stored without a 202 (503 after publish)", len(stored.keys() - accepted)),
            ("duplicates stored", len(duplicates)), ("stored but never posted", len(unexpected)), ("lost", len(lost)),
            ("queues drained", drained), ("DLQ (expected %d poison)" % poison, parked)]
    for name, value in rows:
        print(f"| {name} | {value} |")
    slowest = max(client.slowest for client in clients)
    print(f"| slowest request (s) | {slowest:.2f} |")
    failed = lost or duplicates or unexpected or not drained or parked != poison
    if options.net:
        failed = net.report(slowest, broker.log_dir) or failed
    if lost:
        print(f"chaos: lost ids (first 20): {lost[:20]}", file=sys.stderr)
    print(f"chaos: {'FAILED' if failed else 'passed'} (logs in {work})")
    return 1 if failed else 0


def publish_raw(host, port, namespace, routing_key, body):
    """Publishes one message straight to the ingest exchange, as anyone with broker credentials could
    (amqp-publish from Debian's amqp-tools). Returns 1 when it was published."""
    result = subprocess.run(["amqp-publish", "-u", f"amqp://guest:guest@{host}:{port}", "-e", f"{namespace}.ingest",
                             "-r", routing_key, "-p", "-C", "application/json", "-H", "x-tenant-id: acme", "-b", body.decode()],
                            capture_output=True, text=True, timeout=30)
    return 1 if result.returncode == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
