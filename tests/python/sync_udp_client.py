#!/usr/bin/env python3
"""Blocking UDP client peer: easynetwork's synchronous ``UDPNetworkClient`` (no asyncio).

``UDPNetworkClient((host, port), DatagramProtocol(JSONSerializer()))`` against a UDP JSON
echo server that answers every datagram with itself (easynet's ``standalone_server
--udp`` example):

- the how-to's three clients, one after another, each one round trip;
- one client, a varied set of packets (a 20,000-character one too), each echoed
  unchanged (strict equality);
- ``recv_packet(timeout=0.2)`` with nothing sent raises ``TimeoutError`` and the
  client stays usable;
- one thread sends while another receives (the client is thread-safe): 20 packets, each
  sent once the previous answer has arrived (UDP may drop a burst).

Prints ``sync_udp_client OK {"round_trips": N}`` on success; ``FAIL: ...`` and status 1
otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from _common import check_easynetwork_version, fail, setup_logging, short, strict_equal
from easynetwork.clients import UDPNetworkClient
from easynetwork.protocol import DatagramProtocol
from easynetwork.serializers import JSONSerializer

PACKETS: list[Any] = [
    None,
    True,
    -1,
    2**63 - 1,
    -2.5,
    "",
    "héllo ☃",
    [1, [2, [3]]],
    {"a": 1, "b": [True, None], "c": {"d": "e"}},
    {"big": "x" * 20_000},
]


def expect(got: Any, want: Any, what: str) -> None:
    if not strict_equal(got, want):
        fail(f"{what}: expected {short(want)}, got {short(got)}")


def run(args: argparse.Namespace) -> int:
    protocol = DatagramProtocol(JSONSerializer())
    address = (args.host, args.port)
    trips = 0
    for n in (1, 2, 3):
        with UDPNetworkClient(address, protocol) as client:
            packet = {"message": f"Hello world {n}"}
            client.send_packet(packet, timeout=args.timeout)
            expect(client.recv_packet(timeout=args.timeout), packet, f"answer to client {n}")
            trips += 1
    with UDPNetworkClient(address, protocol) as client:
        for packet in PACKETS:
            client.send_packet(packet, timeout=args.timeout)
            expect(client.recv_packet(timeout=args.timeout), packet, "echo")
            trips += 1
        try:
            got = client.recv_packet(timeout=0.2)
        except TimeoutError:
            pass
        else:
            fail(f"recv_packet with nothing sent returned {short(got)}")
        client.send_packet({"after": "timeout"}, timeout=args.timeout)
        expect(client.recv_packet(timeout=args.timeout), {"after": "timeout"}, "answer after a timeout")
        trips += 1

        ready = threading.Semaphore(0)
        errors: list[str] = []

        def sender() -> None:
            try:
                for i in range(20):
                    if not ready.acquire(timeout=args.timeout):
                        errors.append(f"the receiver never asked for packet {i}")
                        return
                    client.send_packet({"i": i}, timeout=args.timeout)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(f"sender: {type(exc).__name__}: {exc}")

        thread = threading.Thread(target=sender)
        thread.start()
        for i in range(20):
            ready.release()
            expect(client.recv_packet(timeout=args.timeout), {"i": i}, f"answer {i} received while the other thread sends")
            trips += 1
        thread.join()
        if errors:
            fail(errors[0])
    return trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="server host (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="server port")
    parser.add_argument("--timeout", type=float, default=10.0, help="bound of each wait (default: 10)")
    args = parser.parse_args()
    check_easynetwork_version()
    setup_logging()
    try:
        trips = run(args)
    except Exception as exc:  # noqa: BLE001 - any error is a failure of the peer
        fail(f"{type(exc).__name__}: {exc}")
    print(f"sync_udp_client OK {json.dumps({'round_trips': trips})}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
