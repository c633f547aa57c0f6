#!/usr/bin/env python3
"""UDP server peer: an easynetwork ``AsyncUDPNetworkServer`` for easynet's ``UdpClient``.

``AsyncUDPNetworkServer(host, port, DatagramProtocol(<serializer of --format>), handler)``
(``json``, ``cbor``, ``msgpack``; see ``_formats.py``). The handler answers every
datagram ``R`` with ``{"echo": R}``, so a test sees that Python decoded the request and
encoded the answer itself; a datagram that fails to decode is answered with
``{"error": "<easynetwork's message>"}``.

Prints ``udp_server listening on HOST:PORT`` once it serves, then runs until stdin
closes, SIGTERM/SIGINT, or ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncGenerator
from typing import Any

from _common import server_main
from _formats import make_serializer
from easynetwork.exceptions import DatagramProtocolParseError
from easynetwork.protocol import DatagramProtocol
from easynetwork.servers import AsyncUDPNetworkServer
from easynetwork.servers.handlers import AsyncDatagramClient, AsyncDatagramRequestHandler


class EchoHandler(AsyncDatagramRequestHandler[Any, Any]):
    """Answers ``R`` with ``{"echo": R}``, a bad datagram with ``{"error": msg}``."""

    async def handle(self, client: AsyncDatagramClient[Any]) -> AsyncGenerator[None, Any]:
        try:
            request = yield
        except DatagramProtocolParseError as exc:
            await client.send_packet({"error": str(exc.error)})
            return
        await client.send_packet({"echo": request})


def make_server(args: argparse.Namespace) -> AsyncUDPNetworkServer[Any, Any]:
    protocol = DatagramProtocol(make_serializer(args.format))
    return AsyncUDPNetworkServer(args.host, args.port, protocol, EchoHandler())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", default="json", choices=["json", "cbor", "msgpack"])
    server_main("udp_server", make_server, parser)


if __name__ == "__main__":
    main()
