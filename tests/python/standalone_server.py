#!/usr/bin/env python3
"""Standalone server peer: easynetwork's ``StandaloneTCPNetworkServer`` (its own event
loop, blocking ``serve_forever``) run by a ``NetworkServerThread``, for easynet's blocking
client to talk to.

The handler answers every request ``R`` with ``{"echo": R}`` (so a test sees that Python
decoded and encoded the packets itself). Prints ``standalone_server listening on
HOST:PORT`` once the thread says the server is up, then serves until stdin closes or
``--lifetime`` seconds; then ``shutdown()`` and ``join()`` the thread.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import AsyncGenerator
from typing import Any

from _common import check_easynetwork_version, setup_logging
from easynetwork.protocol import StreamProtocol
from easynetwork.serializers import JSONSerializer
from easynetwork.servers import StandaloneTCPNetworkServer
from easynetwork.servers.handlers import AsyncStreamClient, AsyncStreamRequestHandler
from easynetwork.servers.threads_helper import NetworkServerThread


class EchoHandler(AsyncStreamRequestHandler[Any, Any]):
    """Answers ``R`` with ``{"echo": R}``."""

    async def handle(self, client: AsyncStreamClient[Any]) -> AsyncGenerator[None, Any]:
        request = yield
        await client.send_packet({"echo": request})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    parser.add_argument("--lifetime", type=float, default=120.0, help="stop after this many seconds (default: 120)")
    args = parser.parse_args()
    check_easynetwork_version()
    setup_logging()
    protocol = StreamProtocol(JSONSerializer())
    with StandaloneTCPNetworkServer(args.host, args.port, protocol, EchoHandler(), log_client_connection=False) as server:
        thread = NetworkServerThread(server)
        thread.start()  # returns once the server is up
        address = server.get_addresses()[0]
        print(f"standalone_server listening on {address.host}:{address.port}", flush=True)
        stdin_closed = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
        stdin_closed.wait(args.lifetime)
        server.shutdown()
        thread.join()


if __name__ == "__main__":
    main()
