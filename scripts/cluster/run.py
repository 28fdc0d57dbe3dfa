#!/usr/bin/python3
"""Cluster test: "a 202 is stored exactly once" through the loss of RabbitMQ nodes.

A three-node RabbitMQ cluster of private nodes (broker/cluster.sh), quorum queues, two work shards, one
`logpipe api` and two `logpipe worker` processes whose URL lists start at different nodes, and MongoDB's
store on a private SecantusDB server (an independent MongoDB-wire-protocol server, not MongoDB) shared by all.
The chaos soak's load generator posts single logs and NDJSON batches with known log ids and keeps every id answered 202. Meanwhile:

  1. kill -9 of the node that leads the first work queue, then that node started again;
  2. a rolling restart: each node stopped and started in turn, the next one only once it is back;
  3. a partition: the node the API is connected to cut off from the other two (their Erlang distribution
     traffic dropped by packet filter rules, no reset, no FIN; broker/cluster.sh partition) while the API can
     still reach it, then healed; the same for the node leading the first work queue. The nodes run with
     pause_minority and a net_ticktime of 8 s: the cut node notices within about 10 s that it sees a minority,
     pauses (closes its client connections and listeners), and the API and the workers move to the majority.
     Until then the cut node cannot get a publish confirmed (a quorum queue confirms only what a majority of its
     members wrote), so the API answers 503 and never 202 from the minority side.

At the end, with the load stopped and the queues drained: every id that got a 202 is stored exactly once,
nothing never posted is stored, every queue is empty (the DLQ too), each process is ready again and each one's
broker connection moved to another node (every node was stopped once), every answer was a 202 or a 503 with a
broker code (`broker_unavailable`, `confirm_timeout`, ...), and there were 503s: the API said so while it could
not get a confirm, and never answered 202 for a log it did not store. Prints the counts; exits 1 on any failure.

  python3 scripts/cluster/run.py [--seconds-per-phase 20] [--binary .build/debug/logpipe]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "chaos"))
import run as chaos  # noqa: E402 -- the chaos soak's load generator, processes and stores

NODES = 3


class Cluster:
    def __init__(self, name, port):
        self.env = dict(os.environ, LOGPIPE_CLUSTER_NAME=name, LOGPIPE_CLUSTER_PORT=str(port), LOGPIPE_BROKER_PLUGINS="none")
        self.name, self.port = name, port

    def script(self, *arguments, check=True):
        result = subprocess.run(["bash", os.path.join(ROOT, "broker", "cluster.sh"), *arguments], env=self.env,
                                capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(arguments)}: {result.stdout[-300:]} {result.stderr[-700:]}")
        return result.stdout.strip()

    def url(self, node):
        return f"amqp://guest:guest@127.0.0.1:{self.port + node - 1}/"

    def urls(self, first):
        """The URL list starting at node `first`, then the others in order."""
        order = [((first - 1 + k) % NODES) + 1 for k in range(NODES)]
        return ",".join(self.url(node) for node in order)

    def ctl(self, node, *arguments):
        """rabbitmqctl against one node; the completed process (a node that is down fails, it does not raise)."""
        return subprocess.run(["bash", os.path.join(ROOT, "broker", "cluster.sh"), "ctl", str(node), *arguments], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def queues(self, namespace):
        """Messages per queue of the namespace, asked of the first node that answers."""
        for node in range(1, NODES + 1):
            result = self.ctl(node, "list_queues", "name", "messages", "--quiet", "--no-table-headers")
            if result.returncode == 0:
                counts = {}
                for line in result.stdout.splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0].startswith(namespace + ".") and parts[1].isdigit():
                        counts[parts[0]] = int(parts[1])
                return counts
        return {}

    def wait_members_online(self, namespace, timeout=90):
        """Until every quorum queue of the namespace has all its members online again (a restarted node caught up)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            result = self.ctl(1, "list_queues", "name", "online", "--quiet", "--formatter", "json")
            try:
                rows = [row for row in json.loads(result.stdout) if row["name"].startswith(namespace + ".")]
                if rows and all(len(row["online"]) == NODES for row in rows):
                    return True
            except (ValueError, KeyError, TypeError):
                pass
            time.sleep(0.5)
        return False


    def wait_new_leader(self, queue, cut, since, timeout=60):
        """Seconds from `since` until a node other than `cut` names a leader of `queue` other than `cut`; None after
        `timeout`."""
        started = since
        cut_name = f"logpipe-{self.name}-{cut}@localhost"
        while time.monotonic() - started < timeout:
            for node in range(1, NODES + 1):
                if node == cut:
                    continue
                result = self.ctl(node, "list_queues", "name", "leader", "--quiet", "--no-table-headers")
                leaders = [line.split()[1] for line in result.stdout.splitlines() if len(line.split()) == 2 and line.split()[0] == queue]
                if result.returncode == 0 and leaders and leaders[0] != cut_name:
                    return time.monotonic() - started
            time.sleep(0.5)
        return None


# The codes of a 503 that says the broker did not take the logs (openapi.yaml, responses.Unavailable).
BROKER_503_CODES = {"broker_unavailable", "confirm_timeout", "broker_rejected", "unroutable", "broker_blocked", "broker_backlog"}


def merged(counters):
    """The sum of several {key: count} dictionaries."""
    total = {}
    for counter in counters:
        for key, count in counter.items():
            total[key] = total.get(key, 0) + count
    return total


def connects(log_path):
    """How many times the process connected to a broker, and to which nodes (from its log)."""
    nodes = []
    with open(log_path, errors="replace") as log:
        for line in log:
            if "AMQP connected" in line and "amqp.node=" in line:
                nodes.append(line.split("amqp.node=")[1].split()[0])
    return nodes


def node_of(address, base_port):
    """The node number of an `amqp.node` address (127.0.0.1:PORT), or None."""
    try:
        return int(address.rsplit(":", 1)[1]) - base_port + 1
    except (IndexError, ValueError):
        return None


def wait_moved(logs, before, cut, base_port, since, timeout=60):
    """For each process (name -> log path): seconds from `since` until it logged a connect (after its first
    `before[name]` connects) to a node other than `cut`; None for one that did not within `timeout`."""
    moved = {}
    while len(moved) < len(logs) and time.monotonic() - since < timeout:
        for name, path in logs.items():
            if name not in moved and any(node_of(address, base_port) not in (cut, None) for address in connects(path)[before[name]:]):
                moved[name] = time.monotonic() - since
        time.sleep(0.2)
    return {name: moved.get(name) for name in logs}


def main():
    cleanup = []
    try:
        return test(cleanup)
    finally:
        if os.environ.get("LOGPIPE_CLUSTER_KEEP"):
            cleanup = []  # debugging: leave the cluster and the processes running
        for action in reversed(cleanup):
            try:
                action()
            except Exception as error:  # noqa: BLE001 -- cleanup goes on
                print(f"cluster test: cleanup: {error}", file=sys.stderr)


def test(cleanup):
    parser = argparse.ArgumentParser(description="logpipe on a three-node RabbitMQ cluster")
    parser.add_argument("--seconds-per-phase", type=int, default=20)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "logpipe"))
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--port", type=int, default=5810)
    parser.add_argument("--store-port", type=int, default=27933, help="the SecantusDB server's port")
    options = parser.parse_args()
    work = "/tmp/logpipe-cluster-test"
    subprocess.run(["rm", "-rf", work], check=True)
    os.makedirs(work)
    cluster = Cluster("ctest", options.port)
    cluster.env["LOGPIPE_CLUSTER_NET_TICKTIME"] = "8"
    cluster.script("wipe", check=False)
    print(cluster.script("start", str(NODES)))
    cleanup.append(lambda: cluster.script("wipe", check=False))
    # Before the wipe (cleanup runs in reverse): the nodes' logs, kept with the processes' logs.
    cleanup.append(lambda: subprocess.run(f"for k in 1 2 3; do cp -r /tmp/logpipe-broker-ctest-$k/log {work}/node$k-log; done",
                                          shell=True, check=False))
    namespace = "ct"
    store = chaos.SecantusStore(work, "clustertest", options.store_port)
    cleanup.append(store.close)
    api_port, worker_ports = 18950, [18951, 18952]
    env = dict(os.environ, LOGPIPE_NAMESPACE=namespace, LOGPIPE_QUEUE_TYPE="quorum", LOGPIPE_WORK_SHARDS="2",
               LOGPIPE_RETRY_DELAYS="200ms,1s,2s", LOGPIPE_MAX_ATTEMPTS="100", LOGPIPE_CONFIRM_TIMEOUT_MS="3000",
               LOGPIPE_AMQP_HEARTBEAT="5", LOG_LEVEL="info", LOGPIPE_MONGO_URI=store.uri, LOGPIPE_MONGO_DB=store.database)
    api = chaos.Process(options.binary, ["api", "--host", "127.0.0.1", "--port", str(api_port)],
                        dict(env, LOGPIPE_AMQP_URL=cluster.urls(1)), f"{work}/api.log")
    workers = [chaos.Process(options.binary, ["worker"], dict(env, LOGPIPE_AMQP_URL=cluster.urls(2 + index),
                                                             LOGPIPE_WORKER_HTTP_PORT=str(port)), f"{work}/worker{index}.log")
               for index, port in enumerate(worker_ports)]
    for process in [api] + workers:
        process.start()
        cleanup.append(process.stop)
    if not all(chaos.wait_http(port, process=process) for port, process in [(api_port, api)] + list(zip(worker_ports, workers))):
        print(f"cluster test: a process did not become ready (logs in {work})", file=sys.stderr)
        return 1

    stop = threading.Event()
    clients = [chaos.Load(api_port, 16, index, stop) for index in range(options.clients)]
    for client in clients:
        client.start()
    events = []
    phase = options.seconds_per_phase

    # 1. kill -9 of the node leading the first work queue, then it comes back.
    time.sleep(phase / 2)
    leader = int(cluster.script("leader", f"{namespace}.work.0"))
    cluster.script("kill", str(leader))
    events.append(f"killed node {leader} (leader of {namespace}.work.0)")
    time.sleep(phase / 2)
    cluster.script("start-node", str(leader))
    online = cluster.wait_members_online(namespace)
    events.append(f"node {leader} started again; quorum members all online: {online}")

    # 2. A rolling restart of all three nodes under load.
    for node in range(1, NODES + 1):
        time.sleep(phase / 4)
        cluster.script("stop-node", str(node))
        events.append(f"stopped node {node}")
        time.sleep(phase / 4)
        cluster.script("start-node", str(node))
        online = cluster.wait_members_online(namespace)
        events.append(f"node {node} started again; quorum members all online: {online}")
    # 3. Partitions: the API's node, then the leader of the first work queue, cut off from the other two. The first
    # heal must bring every quorum member back before the second cut (else a queue could be left without a
    # majority); after the second, the drain below is what must succeed, and the members' state is reported.
    cleanup.append(lambda: cluster.script("heal", check=False))
    partitions = []
    for target in ("the API's node", f"the leader of {namespace}.work.0"):
        if partitions and not partitions[-1]["online"]:
            break  # a cut now would leave some queue without a majority: failed below
        time.sleep(phase / 4)
        if target == "the API's node":
            api_nodes = connects(f"{work}/api.log")
            cut = node_of(api_nodes[-1], options.port) if api_nodes else None
            if cut is None:
                print(f"cluster test: the API's log names no broker node it connected to (logs in {work})", file=sys.stderr)
                return 1
        else:
            cut = int(cluster.script("leader", f"{namespace}.work.0"))
        before = {name: len(connects(f"{work}/{name}.log")) for name in ["api", "worker0", "worker1"]}
        last = {name: connects(f"{work}/{name}.log")[-1:] for name in before}
        on_cut = [name for name, nodes in last.items() if nodes and node_of(nodes[0], options.port) == cut]
        cluster.script("partition", str(cut))
        cut_at = time.monotonic()
        events.append(f"cut node {cut} ({target}) off from the other nodes; connected to it: {', '.join(on_cut) or 'none'}")
        leaderless = False
        if target != "the API's node":
            seconds = cluster.wait_new_leader(f"{namespace}.work.0", cut, cut_at)
            events.append(f"the majority's leader of {namespace}.work.0 is another node "
                          f"{'%.1f s after the cut' % seconds if seconds is not None else 'NOT within 60 s'}")
            leaderless = seconds is None
        moved = wait_moved({name: f"{work}/{name}.log" for name in on_cut}, before, cut, options.port, cut_at)
        for name, seconds in moved.items():
            events.append(f"{name} connected to another node {'%.1f s after the cut' % seconds if seconds is not None else 'NOT within 60 s'}")
        time.sleep(phase / 4)
        cluster.script("heal")
        healed_at = time.monotonic()
        # A node that paused for a minority restarts by itself; its quorum queue members can take over a minute
        # more to be online again (seen here after Erlang's "global hang workaround" ran on a node).
        online = cluster.wait_members_online(namespace, timeout=240)
        events.append(f"healed; quorum members all online: {online} ({time.monotonic() - healed_at:.1f} s after the heal)")
        partitions.append({"cut": cut, "target": target, "on_cut": on_cut, "moved": moved, "online": online,
                           "leaderless": leaderless})
    time.sleep(phase / 2)
    stop.set()
    for client in clients:
        client.join(timeout=30)

    # Drain: every queue of the namespace empty, every process ready again.
    drained = False
    deadline = time.time() + 180
    while time.time() < deadline:
        counts = cluster.queues(namespace)
        if counts and sum(counts.values()) == 0:
            time.sleep(1.0)  # a batch in hand: written, then acked
            counts = cluster.queues(namespace)
            if counts and sum(counts.values()) == 0:
                drained = True
                break
        time.sleep(0.5)
    ready = all(chaos.wait_http(port, timeout=30) for port in [api_port] + worker_ports)

    accepted = set().union(*(client.accepted for client in clients))
    attempted = set().union(*(client.attempted for client in clients))
    statuses = merged(client.statuses for client in clients)
    stored = store.stored()
    lost = sorted(accepted - stored.keys())
    unexpected = sorted(set(stored) - attempted)
    duplicates = sorted(log_id for log_id, tenants in stored.items() if len(tenants) > 1)
    error_codes = merged(client.error_codes for client in clients)
    # The API answers 202 or, while it cannot get a confirm, 503 with one of the broker codes; nothing else.
    wrong_answers = {key: count for key, count in error_codes.items() if key[0] != 503 or key[1] not in BROKER_503_CODES}
    unavailable = sum(count for key, count in error_codes.items() if key[0] == 503)
    # The rolling restart stops every node once, so every process must have lost its node and moved.
    moves = {name: connects(f"{work}/{name}.log") for name in ["api", "worker0", "worker1"]}
    stayed = sorted(name for name, nodes in moves.items() if len(set(nodes)) < 2)

    print(f"cluster test: {NODES} nodes, quorum queues, 2 shards, {options.clients} clients, {phase} s per phase")
    for event in events:
        print(f"  - {event}")
    print("| count | value |")
    print("|---|---|")
    rows = [("requests by status", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))),
            ("logs posted", len(attempted)), ("logs accepted (202)", len(accepted)), ("logs stored", len(stored)),
            ("503 answers by code", ", ".join(f"{code}: {count}" for (status, code), count in sorted(error_codes.items(), key=str) if status == 503) or "none"),
            ("accepted and stored", len(accepted & stored.keys())), ("stored without a 202 (503 after publish)", len(stored.keys() - accepted)),
            ("duplicates stored", len(duplicates)), ("stored but never posted", len(unexpected)), ("lost", len(lost)),
            ("queues drained (DLQ too)", drained), ("processes ready at the end", ready),
            ("broker nodes per process (connects)", "; ".join(f"{name}: {','.join(nodes)}" for name, nodes in moves.items()))]
    for name, value in rows:
        print(f"| {name} | {value} |")
    # Each cut: whoever was connected to the cut node moved to the majority; the API was (it is the first target).
    stuck = [f"{name} (cut of node {p['cut']}, {p['target']})" for p in partitions for name, seconds in p["moved"].items() if seconds is None]
    leaderless = [p["cut"] for p in partitions if p["leaderless"]]
    unrecovered = len(partitions) < 2
    failed = (lost or duplicates or unexpected or not drained or not ready or stayed or not accepted or wrong_answers or not unavailable
              or stuck or leaderless or unrecovered)
    if unrecovered:
        print(f"cluster test: the quorum queues' members were not all online 240 s after healing the first cut, so the "
              f"second was not made", file=sys.stderr)
    if leaderless:
        print(f"cluster test: no new leader of {namespace}.work.0 on the majority side after cutting node {leaderless[0]}", file=sys.stderr)
    if stuck:
        print(f"cluster test: still on the cut node after 60 s: {', '.join(stuck)}", file=sys.stderr)
    if lost:
        print(f"cluster test: lost ids (first 20): {lost[:20]}", file=sys.stderr)
    if stayed:
        print(f"cluster test: {', '.join(stayed)} never moved to another node although every node was stopped once", file=sys.stderr)
    if wrong_answers:
        print(f"cluster test: answers other than 202 or a broker 503: {wrong_answers}", file=sys.stderr)
    if not unavailable:
        print("cluster test: no 503 while the API's node was down; the test proved nothing about unconfirmed logs", file=sys.stderr)
    print(f"cluster test: {'FAILED' if failed else 'passed'} (logs in {work})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
