#!/usr/bin/env python3
"""Server peer for every shared format: an easynetwork server for easynet's clients.

``AsyncTCPNetworkServer(host, port, StreamProtocol(<serializer of --format>), handler)``
(see ``_formats.py``; base64 options ``--alphabet``, ``--checksum``, ``--key``). The
handler answers every request ``R`` with ``{"echo": R}`` (in ``lines``, with
``"echo:" + R``), so a test sees that Python decoded the request and encoded the answer
itself. A request that fails to decode is answered with ``{"error": "<easynetwork's
message>"}`` (``"error:" + message`` in ``lines``) and the connection stays open.

Prints ``format_server listening on HOST:PORT`` once it accepts connections, then runs
until stdin closes, SIGTERM/SIGINT, or ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncGenerator
from typing import Any

from _common import server_main
from _formats import add_format_arguments, serializer_from_args
from easynetwork.exceptions import StreamProtocolParseError
from easynetwork.protocol import StreamProtocol
from easynetwork.servers import AsyncTCPNetworkServer
from easynetwork.servers.handlers import AsyncStreamClient, AsyncStreamRequestHandler


class FormatEchoHandler(AsyncStreamRequestHandler[Any, Any]):
    """Answers ``R`` with ``{"echo": R}``, a bad request with ``{"error": msg}``."""

    def __init__(self, lines: bool) -> None:
        self.lines = lines

    async def handle(self, client: AsyncStreamClient[Any]) -> AsyncGenerator[None, Any]:
        try:
            request = yield
        except StreamProtocolParseError as exc:
            message = str(exc.error)
            if self.lines:
                await client.send_packet("error:" + message.replace("\r", " ").replace("\n", " "))
            else:
                await client.send_packet({"error": message})
            return
        await client.send_packet(f"echo:{request}" if self.lines else {"echo": request})


def make_server(args: argparse.Namespace) -> AsyncTCPNetworkServer[Any, Any]:
    protocol = StreamProtocol(serializer_from_args(args))
    handler = FormatEchoHandler(lines=args.format == "lines")
    return AsyncTCPNetworkServer(args.host, args.port, protocol, handler, log_client_connection=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_format_arguments(parser)
    server_main("format_server", make_server, parser)


if __name__ == "__main__":
    main()
