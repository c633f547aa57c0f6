#!/usr/bin/env python3
"""String-lines server peer: an easynetwork ``StringLineSerializer`` server for easynet's
``StringLines`` clients.

``AsyncTCPNetworkServer(host, port, StreamProtocol(StringLineSerializer(newline,
encoding=...)), handler)``; the serializer's defaults are easynetwork's: ``newline="LF"``,
``encoding="ascii"``, 64 KiB line limit. The handler answers every line ``L`` with
``"echo:" + L``; a line that fails to decode (not in the encoding, over the limit) is
answered with ``"error:" + <easynetwork's message>`` and the connection stays open.

Prints ``lines_server listening on HOST:PORT`` once it accepts connections, then runs
until stdin closes, SIGTERM/SIGINT, or ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncGenerator

from _common import server_main
from easynetwork.exceptions import StreamProtocolParseError
from easynetwork.protocol import StreamProtocol
from easynetwork.serializers import StringLineSerializer
from easynetwork.servers import AsyncTCPNetworkServer
from easynetwork.servers.handlers import AsyncStreamClient, AsyncStreamRequestHandler


class LineEchoHandler(AsyncStreamRequestHandler[str, str]):
    """Answers ``L`` with ``"echo:" + L``, a bad line with ``"error:" + msg``."""

    async def handle(self, client: AsyncStreamClient[str]) -> AsyncGenerator[None, str]:
        try:
            line = yield
        except StreamProtocolParseError as exc:
            message = str(exc.error).replace("\r", " ").replace("\n", " ")
            await client.send_packet(f"error:{message}")
            return
        await client.send_packet(f"echo:{line}")


def make_server(args: argparse.Namespace) -> AsyncTCPNetworkServer[str, str]:
    protocol = StreamProtocol(StringLineSerializer(args.newline, encoding=args.encoding))
    return AsyncTCPNetworkServer(args.host, args.port, protocol, LineEchoHandler(), log_client_connection=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoding", default="ascii", help='line encoding (default: "ascii", as easynetwork)')
    parser.add_argument("--newline", default="LF", choices=["LF", "CR", "CRLF"], help="line separator (default: LF)")
    server_main("lines_server", make_server, parser)


if __name__ == "__main__":
    main()
