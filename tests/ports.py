"""Ports for servers that tests start, chosen where no client connection can take them meanwhile.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from the ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``, 32768-60999 on Linux), the same range every outgoing
connection takes its local port from. Between closing that probe socket and the server binding the
port, any client in the test run (three pytest workers, each talking to emulators and S3 servers) may
take it, and the server then exits with "address already in use". Ports below the ephemeral range are
never handed to clients, so a port picked there and probed free stays free unless another test picks
the same number: a random draw from ~12,000 makes that rare, and ``free_ports`` never repeats one.
"""

import random
import socket

LOW, HIGH = 20000, 32767  # below Linux's default ephemeral range
_handed_out: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports on 127.0.0.1 that were free a moment ago and outside the ephemeral range."""
    chosen: list[int] = []
    draw = random.SystemRandom()
    for _ in range(count * 200):
        if len(chosen) == count:
            break
        port = draw.randint(LOW, HIGH)
        if port in chosen or port in _handed_out or not _bindable(port):
            continue
        chosen.append(port)
    if len(chosen) < count:
        raise RuntimeError(f"no {count} free ports between {LOW} and {HIGH} on 127.0.0.1")
    _handed_out.update(chosen)
    return chosen


def free_port() -> int:
    return free_ports(1)[0]
