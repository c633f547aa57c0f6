#!/usr/bin/env python3
"""Client peer for every shared format: checks an easynet echo server (the ``echo_server``
example with ``--format``, or an in-process server) that sends every packet back
unchanged and answers a packet that fails to decode with ``{"error": "<message>"}``.

It connects with ``AsyncTCPNetworkClient((host, port), StreamProtocol(<serializer of
--format>))`` (see ``_formats.py``; base64 options ``--alphabet``, ``--checksum``,
``--key``) and:

1. sends each built-in packet (JSON-like values of many shapes, or each PACKET given as
   JSON text) and checks the echo is equal (``1`` is not ``1.0`` nor ``True``), one at a
   time, then all pipelined;
2. with ``--error-checks``, sends a packet bigger than the 64 KiB limit once encoded (or
   decompressed) and expects one error reply, then checks the connection still echoes.

On success prints ``format_client OK {"echoed": N, "errors": [...]}``; on any mismatch
prints ``FAIL: ...`` on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from _common import Mismatch, client_main, short, strict_equal
from _formats import add_format_arguments, serializer_from_args
from easynetwork.clients import AsyncTCPNetworkClient
from easynetwork.protocol import StreamProtocol

LIMIT = 64 * 1024


def builtin_packets() -> list[Any]:
    deep: Any = "bottom"
    for _ in range(60):
        deep = [deep]
    return [
        None,
        True,
        False,
        0,
        -1,
        23,
        24,
        255,
        256,
        65536,
        -(2**63),
        2**63 - 1,
        2**64 - 1,
        0.1,
        -2.5,
        1.0,
        1e300,
        5e-324,
        "",
        "hello",
        "quote \" backslash \\ newline \n tab \t",
        "caf\u00e9 \u65e5\u672c \U0001f600",
        [],
        {},
        [1, "two", 3.5, None, True, [False, {"k": []}]],
        {"nested": {"deeper": [1, {"x": "y"}]}, "list": [1, 2, 3]},
        {"unicode key \u00e9": "v", "": ""},
        deep,
        {"big": "x" * 30_000},
        list(range(1000)),
    ]


def is_error_reply(reply: Any) -> bool:
    return isinstance(reply, dict) and list(reply) == ["error"] and isinstance(reply["error"], str)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    packets = [json.loads(text) for text in args.packets] if args.packets else builtin_packets()
    protocol = StreamProtocol(serializer_from_args(args))
    errors: list[str] = []
    echoed = 0
    async with AsyncTCPNetworkClient((args.host, args.port), protocol) as client:
        for packet in packets:
            await client.send_packet(packet)
            reply = await client.recv_packet()
            if not strict_equal(reply, packet):
                raise Mismatch(f"sent {short(packet)}, got back {short(reply)}")
            echoed += 1
        for packet in packets:
            await client.send_packet(packet)
        for packet in packets:
            reply = await client.recv_packet()
            if not strict_equal(reply, packet):
                raise Mismatch(f"pipelined {short(packet)}, got back {short(reply)}")
            echoed += 1

        if args.error_checks:
            await client.send_packet({"too long": "z" * (LIMIT + 10)})
            reply = await client.recv_packet()
            if not is_error_reply(reply):
                raise Mismatch(f"a packet over {LIMIT} bytes: expected an error reply, got {short(reply)}")
            errors.append(reply["error"])
            probe = {"probe": [1, 2]}
            await client.send_packet(probe)
            reply = await client.recv_packet()
            if not strict_equal(reply, probe):
                raise Mismatch(f"connection unusable after an over-long packet: probe got {short(reply)}")
            echoed += 1
    return {"echoed": echoed, "packets": len(packets), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packets", nargs="*", metavar="PACKET", help="JSON text of a packet to send (default: a built-in set)")
    add_format_arguments(parser)
    parser.add_argument("--error-checks", action="store_true", help="check the handling of an over-long packet")
    client_main("format_client", run, parser)


if __name__ == "__main__":
    main()
