#!/usr/bin/env python3
"""TLS JSON-lines server peer: an easynetwork TLS server for easynet's clients to talk to.

``AsyncTCPNetworkServer(host, port, StreamProtocol(JSONSerializer()), handler, ssl=ctx)``,
with ``ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)`` and
``ctx.load_cert_chain(--certfile, --keyfile)``, as in the how-to's "SSL/TLS Connection".
With ``--client-ca FILE``, clients must present a certificate issued by that CA
(``verify_mode = CERT_REQUIRED``: mutual TLS).

The handler answers every request ``R`` with ``{"echo": R, "tls_version": V, "peer_cn":
CN}``: the TLS version easynetwork reports for the connection, and the common name of the
client's certificate (``null`` without one).

Prints ``tls_server listening on HOST:PORT`` once it accepts connections, then runs until
stdin closes, SIGTERM/SIGINT, or ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import AsyncGenerator
from typing import Any

from _common import server_main
from easynetwork.lowlevel.socket import TLSAttribute
from easynetwork.protocol import StreamProtocol
from easynetwork.serializers import JSONSerializer
from easynetwork.servers import AsyncTCPNetworkServer
from easynetwork.servers.handlers import AsyncStreamClient, AsyncStreamRequestHandler


def common_name(peercert: Any) -> str | None:
    """The commonName of a ``getpeercert()`` dict, if any."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class TlsEchoHandler(AsyncStreamRequestHandler[Any, Any]):
    """Answers ``R`` with ``{"echo": R, "tls_version": ..., "peer_cn": ...}``."""

    async def handle(self, client: AsyncStreamClient[Any]) -> AsyncGenerator[None, Any]:
        request = yield
        await client.send_packet(
            {
                "echo": request,
                "tls_version": client.extra(TLSAttribute.tls_version, None),
                "peer_cn": common_name(client.extra(TLSAttribute.peercert, None)),
            }
        )


def make_server(args: argparse.Namespace) -> AsyncTCPNetworkServer[Any, Any]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.certfile, args.keyfile)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=args.client_ca)
    protocol = StreamProtocol(JSONSerializer())
    return AsyncTCPNetworkServer(args.host, args.port, protocol, TlsEchoHandler(), ssl=ctx, log_client_connection=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certfile", required=True, help="the server's certificate chain (PEM)")
    parser.add_argument("--keyfile", required=True, help="its private key (PEM)")
    parser.add_argument("--client-ca", help="require client certificates issued by this CA (PEM)")
    server_main("tls_server", make_server, parser)


if __name__ == "__main__":
    main()
