"""Delays packets in the kernel by a random time: a userspace verdict for each packet of an NFQUEUE queue.

This machine's kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is off), so latency is made with netfilter's
queue: an iptables rule sends a link's packets to queue N (`-j NFQUEUE --queue-num N`), the kernel holds each one,
and this program gives it back (NF_ACCEPT) after DELAY ± JITTER milliseconds, drawn uniformly per packet, as
netem does (packets may be reordered by the jitter). It speaks nfnetlink_queue itself (Linux's netfilter/
nfnetlink_queue.h), so nothing beyond Python is needed. Run it inside the namespace whose rule names the queue:

    ip netns exec NS python3 scripts/netfaults/delay.py --queue 7 --delay-ms 200 --jitter-ms 100

It prints "ready" once bound, and stops on SIGTERM, accepting whatever it still holds. Packets it has no room
for are accepted at once (the queue is fail-open), so a full queue turns into less delay, never into loss.
"""

import argparse
import errno
import heapq
import random
import signal
import socket
import struct
import sys
import threading
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
SO_RCVBUFFORCE = 33


def attribute(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def message(kind, queue, attributes, flags=NLM_F_REQUEST, sequence=0):
    body = struct.pack("=BBH", socket.AF_INET, 0, socket.htons(queue)) + b"".join(attributes)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, sequence, 0) + body


class Delayer:
    def __init__(self, queue, delay_ms, jitter_ms, seed):
        self.queue, self.delay, self.jitter = queue, delay_ms / 1000, jitter_ms / 1000
        self.random = random.Random(seed)
        self.socket = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.socket.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.socket.bind((0, 0))
        self.held = []  # (release time, packet id)
        self.lock = threading.Condition()
        self.stopped = False

    def configure(self):
        """Binds the queue: metadata only (the verdict needs just the id), room for 20,000 packets, fail-open."""
        self.request(NFQNL_MSG_CONFIG, [attribute(NFQA_CFG_CMD, struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0,
                                                                             socket.htons(socket.AF_INET)))])
        self.request(NFQNL_MSG_CONFIG, [attribute(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META)),
                                        attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", 20_000)),
                                        attribute(NFQA_CFG_MASK, struct.pack(">I", NFQA_CFG_F_FAIL_OPEN)),
                                        attribute(NFQA_CFG_FLAGS, struct.pack(">I", NFQA_CFG_F_FAIL_OPEN))])

    def request(self, kind, attributes):
        self.socket.send(message(kind, self.queue, attributes, NLM_F_REQUEST | NLM_F_ACK, sequence=1))
        answer = self.socket.recv(65536)
        _, kind_answer, _, _, _ = struct.unpack_from("=IHHII", answer)
        if kind_answer == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", answer, 16)
            if error != 0:
                raise OSError(-error, f"nfnetlink_queue configuration refused ({errno.errorcode.get(-error, error)})")

    def receive(self):
        while not self.stopped:
            try:
                data = self.socket.recv(1 << 20)
            except OSError:
                if self.stopped:
                    return
                continue  # ENOBUFS: the kernel dropped notifications; the fail-open queue goes on
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
                if length < 16:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    packet_id = self.packet_id(data[offset + 20:offset + length])
                    if packet_id is not None:
                        release = time.monotonic() + max(0.0, self.delay + self.random.uniform(-self.jitter, self.jitter))
                        with self.lock:
                            heapq.heappush(self.held, (release, packet_id))
                            self.lock.notify()
                offset += (length + 3) & ~3

    @staticmethod
    def packet_id(attributes):
        offset = 0
        while offset + 4 <= len(attributes):
            length, kind = struct.unpack_from("=HH", attributes, offset)
            if length < 4:
                return None
            if kind & 0x7FFF == NFQA_PACKET_HDR:
                return struct.unpack_from(">I", attributes, offset + 4)[0]
            offset += (length + 3) & ~3
        return None

    def release(self):
        while True:
            with self.lock:
                while not self.held and not self.stopped:
                    self.lock.wait()
                if self.stopped and not self.held:
                    return
                release, packet_id = self.held[0]
                wait = release - time.monotonic()
                if wait > 0 and not self.stopped:
                    self.lock.wait(wait)
                    continue
                heapq.heappop(self.held)
            verdict = attribute(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, packet_id))
            try:
                self.socket.send(message(NFQNL_MSG_VERDICT, self.queue, [verdict]))
            except OSError:
                pass

    def stop(self, *_):
        with self.lock:
            self.stopped = True
            self.lock.notify_all()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=200)
    parser.add_argument("--jitter-ms", type=float, default=100)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    delayer = Delayer(options.queue, options.delay_ms, options.jitter_ms, options.seed)
    delayer.configure()
    signal.signal(signal.SIGTERM, delayer.stop)
    signal.signal(signal.SIGINT, delayer.stop)
    threading.Thread(target=delayer.receive, daemon=True).start()
    releaser = threading.Thread(target=delayer.release)
    releaser.start()
    print("ready", flush=True)
    while releaser.is_alive():
        releaser.join(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
