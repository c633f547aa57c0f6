#!/usr/bin/env python3
"""Standalone UDP server peer: easynetwork's ``StandaloneUDPNetworkServer`` (its own event
loop, blocking ``serve_forever``) run by a ``NetworkServerThread``, for easynet's blocking
``UdpClient`` to talk to.

``DatagramProtocol(JSONSerializer())``. The handler answers every datagram ``R`` with
``{"echo": R}`` (so a test sees that Python decoded and encoded the packets itself), and
a datagram that fails to decode with ``{"error": "<easynetwork's message>"}``. Prints
``standalone_udp_server listening on HOST:PORT`` once the thread says the server is up,
then serves until stdin closes or ``--lifetime`` seconds; then ``shutdown()`` and
``join()`` the thread.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import AsyncGenerator
from typing import Any

from _common import check_easynetwork_version, setup_logging
from easynetwork.exceptions import DatagramProtocolParseError
from easynetwork.protocol import DatagramProtocol
from easynetwork.serializers import JSONSerializer
from easynetwork.servers import StandaloneUDPNetworkServer
from easynetwork.servers.handlers import AsyncDatagramClient, AsyncDatagramRequestHandler
from easynetwork.servers.threads_helper import NetworkServerThread


class EchoHandler(AsyncDatagramRequestHandler[Any, Any]):
    """Answers ``R`` with ``{"echo": R}``, a bad datagram with ``{"error": msg}``."""

    async def handle(self, client: AsyncDatagramClient[Any]) -> AsyncGenerator[None, Any]:
        try:
            request = yield
        except DatagramProtocolParseError as exc:
            await client.send_packet({"error": str(exc.error)})
            return
        await client.send_packet({"echo": request})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    parser.add_argument("--lifetime", type=float, default=120.0, help="stop after this many seconds (default: 120)")
    args = parser.parse_args()
    check_easynetwork_version()
    setup_logging()
    protocol = DatagramProtocol(JSONSerializer())
    with StandaloneUDPNetworkServer(args.host, args.port, protocol, EchoHandler()) as server:
        thread = NetworkServerThread(server)
        thread.start()  # returns once the server is up
        address = server.get_addresses()[0]
        print(f"standalone_udp_server listening on {address.host}:{address.port}", flush=True)
        stdin_closed = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
        stdin_closed.wait(args.lifetime)
        server.shutdown()
        thread.join()


if __name__ == "__main__":
    main()
