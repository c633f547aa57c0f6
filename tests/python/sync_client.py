#!/usr/bin/env python3
"""Blocking client peer: easynetwork's synchronous ``TCPNetworkClient`` (no asyncio).

``TCPNetworkClient((host, port), StreamProtocol(JSONSerializer()))`` against a JSON echo
server that answers every request unchanged (easynet's ``standalone_server`` example):

- the how-to's three clients, one after another, each one round trip;
- one client, 50 packets sent at once, then 50 answers read, in order;
- ``recv_packet(timeout=0.2)`` with nothing sent raises ``TimeoutError`` and the
  client stays usable;
- ``send_eof()``, then the answer to what was sent before it still arrives, then the
  end of the stream.

Prints ``sync_client OK {"round_trips": N}`` on success; ``FAIL: ...`` and status 1
otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from _common import check_easynetwork_version, fail, setup_logging, short, strict_equal
from easynetwork.clients import TCPNetworkClient
from easynetwork.exceptions import ClientClosedError
from easynetwork.protocol import StreamProtocol
from easynetwork.serializers import JSONSerializer


def expect(got: Any, want: Any, what: str) -> None:
    if not strict_equal(got, want):
        fail(f"{what}: expected {short(want)}, got {short(got)}")


def run(args: argparse.Namespace) -> int:
    protocol = StreamProtocol(JSONSerializer())
    address = (args.host, args.port)
    trips = 0
    for n in (1, 2, 3):
        with TCPNetworkClient(address, protocol, connect_timeout=args.timeout) as client:
            packet = {"message": f"Hello world {n}"}
            client.send_packet(packet, timeout=args.timeout)
            expect(client.recv_packet(timeout=args.timeout), packet, f"answer to client {n}")
            trips += 1
    with TCPNetworkClient(address, protocol, connect_timeout=args.timeout) as client:
        packets = [{"i": i, "text": "é" * i, "list": [i, i / 2, None, True]} for i in range(50)]
        for packet in packets:
            client.send_packet(packet, timeout=args.timeout)
        for packet in packets:
            expect(client.recv_packet(timeout=args.timeout), packet, f"pipelined answer {packet['i']}")
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
        client.send_packet("last", timeout=args.timeout)
        client.send_eof()
        expect(client.recv_packet(timeout=args.timeout), "last", "answer after send_eof")
        trips += 1
        try:
            got = client.recv_packet(timeout=args.timeout)
        except (ConnectionError, ClientClosedError, EOFError):
            pass
        else:
            fail(f"expected the end of the stream after send_eof, got {short(got)}")
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
    print(f"sync_client OK {json.dumps({'round_trips': trips})}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
