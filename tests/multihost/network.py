"""Hosts as Linux network namespaces on one private bridge.

The bridge gets 10.231.N.1/24 on this machine (N picked free at random); each host is a namespace
with one veth pair into the bridge and the address 10.231.N.(2 + i). The bridge has no uplink and
nothing forwards or masquerades for it, so these addresses reach this machine and each other only.
Everything made here is named `mh<tag>…` so that concurrent runs do not collide, and `close`
removes it (processes, namespaces, links) even after a failure.
"""
from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import subprocess
import time


class NetworkUnavailable(Exception):
    """Namespaces cannot be made here (not root, no `ip`, no permission)."""


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NetworkUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout


def _free_subnet() -> str:
    used = _ip("-4", "addr") + _ip("-4", "route")
    for n in random.sample(range(1, 255), 254):
        if f"10.231.{n}." not in used:
            return f"10.231.{n}"
    raise NetworkUnavailable("no free 10.231.N.0/24 subnet")


class Network:
    def __init__(self):
        if os.geteuid() != 0:
            raise NetworkUnavailable("network namespaces need root")
        if shutil.which("ip") is None:
            raise NetworkUnavailable("the `ip` command (iproute2) is missing")
        self.tag = secrets.token_hex(2)
        self.bridge = f"mh{self.tag}br"
        self.hosts: dict[str, str] = {}  # name -> namespace
        self.subnet = _free_subnet()
        self.address = f"{self.subnet}.1"
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
            _ip("addr", "add", f"{self.address}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except NetworkUnavailable:
            self.close()
            raise

    def add_host(self, name: str) -> str:
        """A new namespace attached to the bridge; returns its address."""
        index = len(self.hosts)
        namespace, outside, inside = f"mh{self.tag}-{name}", f"mh{self.tag}h{index}", f"mh{self.tag}n{index}"
        address = f"{self.subnet}.{2 + index}"
        _ip("netns", "add", namespace)
        self.hosts[name] = namespace
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", outside, "master", self.bridge, "up")
        for args in (("addr", "add", f"{address}/24", "dev", inside), ("link", "set", inside, "up"), ("link", "set", "lo", "up")):
            _ip("netns", "exec", namespace, "ip", *args)
        return address

    def command(self, name: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[name], *argv]

    def pids(self, name: str) -> list[int]:
        done = subprocess.run(["ip", "netns", "pids", self.hosts[name]], capture_output=True, text=True, timeout=30)
        return [int(p) for p in done.stdout.split()]

    def kill_host(self, name: str, sig=signal.SIGKILL) -> list[int]:
        """Send `sig` to every process of the host, as a machine losing power would stop them all at once."""
        pids = self.pids(name)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def close(self) -> None:
        for name in list(self.hosts):
            self.kill_host(name, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while any(self.pids(name) for name in self.hosts) and time.monotonic() < deadline:
            time.sleep(0.2)
        for name, namespace in list(self.hosts.items()):
            self.kill_host(name, signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)  # takes its veth along
            del self.hosts[name]
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=30)
