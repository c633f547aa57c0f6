#!/usr/bin/env python3
"""UDP client peer: checks that an easynet UDP echo server talks to easynetwork.

It sends with ``AsyncUDPNetworkClient((host, port), DatagramProtocol(<serializer of
--format>))`` (``json``: ``JSONSerializer()``, ``cbor``, ``msgpack``: see ``_formats.py``)
a varied set of packets, one datagram each, and checks that each is echoed unchanged
(strict equality). Then, over a plain UDP socket, it sends a datagram that is not valid in
the format and checks that the answer is ``{"error": "<message>"}``, and that the
address is still served afterwards.

On success prints ``udp_client OK {"echoed": N, "error": "<message>"}``; on any mismatch
prints ``FAIL: ...`` on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

from _common import Mismatch, client_main, short, strict_equal
from _formats import make_serializer
from easynetwork.clients import AsyncUDPNetworkClient
from easynetwork.protocol import DatagramProtocol

PACKETS: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63 - 1,
    -2.5,
    "",
    "héllo ☃",
    [1, [2, [3]]],
    {"a": 1, "b": [True, None], "c": {"d": "e"}},
    {"big": "x" * 20_000},
]

BAD = {"json": b"{not json", "cbor": b"\xff\xff", "msgpack": b"\xc1"}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    protocol = DatagramProtocol(make_serializer(args.format))
    echoed = 0
    async with AsyncUDPNetworkClient((args.host, args.port), protocol) as client:
        for packet in PACKETS:
            await client.send_packet(packet)
            answer = await client.recv_packet()
            if not strict_equal(answer, packet):
                raise Mismatch(f"sent {short(packet)}, got back {short(answer)}")
            echoed += 1
    raw = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_DGRAM)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(raw, (args.host, args.port))
    await loop.sock_sendall(raw, BAD[args.format])
    error = protocol.build_packet_from_datagram(await loop.sock_recv(raw, 70_000))
    if not (isinstance(error, dict) and isinstance(error.get("error"), str)):
        raise Mismatch(f"a bad datagram got {short(error)}, not an error packet")
    await loop.sock_sendall(raw, protocol.make_datagram({"after": "error"}))
    after = protocol.build_packet_from_datagram(await loop.sock_recv(raw, 70_000))
    if not strict_equal(after, {"after": "error"}):
        raise Mismatch(f"after the error, got {short(after)}")
    raw.close()
    return {"echoed": echoed, "error": error["error"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", default="json", choices=sorted(BAD))
    client_main("udp_client", run, parser)


if __name__ == "__main__":
    main()
