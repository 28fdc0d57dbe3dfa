"""A network between logpipe and a server that fails quietly, made of the kernel's own parts.

`Link(name, index)` is a network namespace of the test's own (`lpnet-NAME`) joined to this one by a veth pair:
10.213.INDEX.1 on this side, 10.213.INDEX.2 inside, where the server runs (`link.command(...)` prefixes
`ip netns exec`). Its faults are made inside the namespace, on the veth only, in both directions:

- `black_hole()`: every packet dropped (iptables DROP): no RST, no FIN, the TCP connections stay open and silent.
- `lossy(p)`: each packet dropped with probability p (iptables' statistic match).
- `slow(delay_ms, jitter_ms)`: each packet held by the kernel for delay ± jitter (an NFQUEUE queue and
  scripts/netfaults/delay.py; this kernel has no netem).
- `heal()`: the rules removed, the delayer stopped (it lets go of what it holds).

`close()` stops whatever still runs in the namespace and deletes it, which deletes the veth pair too. Nothing is
routed beyond the pair: traffic stays on this machine, between loopback-only servers and the test's namespaces.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*command, check=True):
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()[-300:]}")
    return result.stdout


class Link:
    def __init__(self, name, index):
        self.namespace = f"lpnet-{name}"
        self.host_interface, self.interface = f"lp{name}h"[:15], f"lp{name}n"[:15]
        self.host_address, self.address = f"10.213.{index}.1", f"10.213.{index}.2"
        self.queue = 40 + index
        self.delayer = None
        self.fault = None

    def command(self, *arguments):
        return ["ip", "netns", "exec", self.namespace, *arguments]

    def create(self):
        self.remove()  # a namespace left by a run that was killed
        run("ip", "netns", "add", self.namespace)
        run("ip", "link", "add", self.host_interface, "type", "veth", "peer", "name", self.interface)
        run("ip", "link", "set", self.interface, "netns", self.namespace)
        run("ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_interface)
        run("ip", "link", "set", self.host_interface, "up")
        run("ip", "-n", self.namespace, "addr", "add", f"{self.address}/30", "dev", self.interface)
        run("ip", "-n", self.namespace, "link", "set", self.interface, "up")
        run("ip", "-n", self.namespace, "link", "set", "lo", "up")
        return self

    def iptables(self, *arguments):
        run(*self.command("iptables", *arguments))

    def both_ways(self, *target):
        self.iptables("-I", "INPUT", "-i", self.interface, *target)
        self.iptables("-I", "OUTPUT", "-o", self.interface, *target)

    def black_hole(self):
        self.fault = "black_hole"
        self.both_ways("-j", "DROP")

    def lossy(self, probability):
        self.fault = f"loss {probability:.0%}"
        self.both_ways("-m", "statistic", "--mode", "random", "--probability", f"{probability:.3f}", "-j", "DROP")

    def slow(self, delay_ms, jitter_ms, seed=0):
        """Each direction holds a packet for delay_ms / 2 ± jitter_ms / 2, so a round trip takes delay ± jitter."""
        self.fault = f"delay {delay_ms} ± {jitter_ms} ms"
        self.delayer = subprocess.Popen(self.command(sys.executable, os.path.join(HERE, "delay.py"), "--queue",
                                                     str(self.queue), "--delay-ms", str(delay_ms / 2),
                                                     "--jitter-ms", str(jitter_ms / 2), "--seed", str(seed)),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = self.delayer.stdout.readline().strip()
        if ready != "ready":
            self.delayer.wait(timeout=10)
            self.delayer = None
            raise RuntimeError(f"the packet delayer did not start: {ready}")
        self.both_ways("-j", "NFQUEUE", "--queue-num", str(self.queue), "--queue-bypass")

    def heal(self):
        self.iptables("-F", "INPUT")
        self.iptables("-F", "OUTPUT")
        if self.delayer is not None:
            self.delayer.terminate()
            try:
                self.delayer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.delayer.kill()
                self.delayer.wait()
            self.delayer = None
        self.fault = None

    def remove(self):
        if self.namespace not in run("ip", "netns", "list", check=False).split():
            run("ip", "link", "del", self.host_interface, check=False)
            return
        for pid in run("ip", "netns", "pids", self.namespace, check=False).split():
            run("kill", "-9", pid, check=False)
        deadline = time.time() + 10
        while run("ip", "netns", "pids", self.namespace, check=False).split() and time.time() < deadline:
            time.sleep(0.05)
        run("ip", "netns", "del", self.namespace, check=False)
        run("ip", "link", "del", self.host_interface, check=False)

    def close(self):
        if self.delayer is not None:
            self.delayer.kill()
            self.delayer.wait()
            self.delayer = None
        self.remove()
