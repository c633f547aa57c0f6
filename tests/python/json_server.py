#!/usr/bin/env python3
"""JSON-lines server peer: an easynetwork server for easynet's clients to talk to.

``AsyncTCPNetworkServer(host, port, StreamProtocol(JSONSerializer()), handler)`` with the
easynetwork 1.2.0 defaults (compact JSON, ``ensure_ascii=True``, 64 KiB line limit).
The handler answers every request ``R`` with ``{"echo": R}``, so a test sees that Python
decoded the request and encoded the answer itself (not a byte reflector). A line that
fails to decode (bad JSON, bad UTF-8, over the limit) is answered with
``{"error": "<easynetwork's message>"}`` and the connection stays open.

Prints ``json_server listening on HOST:PORT`` once it accepts connections, then runs
until stdin closes, SIGTERM/SIGINT, or ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncGenerator
from typing import Any

from _common import server_main
from easynetwork.exceptions import StreamProtocolParseError
from easynetwork.protocol import StreamProtocol
from easynetwork.serializers import JSONSerializer
from easynetwork.servers import AsyncTCPNetworkServer
from easynetwork.servers.handlers import AsyncStreamClient, AsyncStreamRequestHandler


class JsonEchoHandler(AsyncStreamRequestHandler[Any, Any]):
    """Answers ``R`` with ``{"echo": R}``, a bad line with ``{"error": msg}``."""

    async def handle(self, client: AsyncStreamClient[Any]) -> AsyncGenerator[None, Any]:
        try:
            request = yield
        except StreamProtocolParseError as exc:
            await client.send_packet({"error": str(exc.error)})
            return
        await client.send_packet({"echo": request})


def make_server(args: argparse.Namespace) -> AsyncTCPNetworkServer[Any, Any]:
    protocol = StreamProtocol(JSONSerializer())
    return AsyncTCPNetworkServer(args.host, args.port, protocol, JsonEchoHandler(), log_client_connection=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    server_main("json_server", make_server, parser)


if __name__ == "__main__":
    main()
