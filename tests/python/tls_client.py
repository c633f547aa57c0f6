#!/usr/bin/env python3
"""TLS JSON-lines client peer: checks that an easynet TLS echo server talks to easynetwork
over TLS, the how-to's "SSL/TLS Connection".

It connects with ``AsyncTCPNetworkClient((host, port), StreamProtocol(JSONSerializer()),
ssl=ctx, server_hostname=NAME)``, where ``ctx`` is ``ssl.create_default_context(
cafile=--cafile)`` (so the server's certificate must chain to that CA and be valid for
``NAME``), plus ``ctx.load_cert_chain(--certfile, --keyfile)`` for mutual TLS. It checks
that the server echoes every packet unchanged (strict equality), one at a time then
pipelined, with packets of all JSON kinds and sizes up to 60 KB (many TLS records).

``--info``: afterwards, sends ``{"cmd": "info"}`` and puts the reply in the summary (an
in-process test server answers it with what its handler knows of the TLS session).

``--expect-refusal``: the connection (handshake, or the first exchange: with TLS 1.3 a
server refuses a client certificate after the client's handshake is done) must fail with
an SSL or connection error; the summary holds that error.

On success prints ``tls_client OK {"echoed": N, "info": ..., "refused": null}`` (or with
``refused`` set to the error's description); on any mismatch prints ``FAIL: ...`` on
stderr and exits 1.
"""

from __future__ import annotations

import argparse
import ssl
from typing import Any

from _common import Mismatch, client_main, describe, short, strict_equal
from easynetwork.clients import AsyncTCPNetworkClient
from easynetwork.protocol import StreamProtocol
from easynetwork.serializers import JSONSerializer

PACKETS: list[Any] = [
    None,
    True,
    0,
    -(2**63),
    2**64 - 1,
    1.5e-7,
    -0.0,
    "",
    "caf\u00e9 \U0001f600",
    'quote " backslash \\ newline \n',
    [],
    {},
    [1, "two", 3.5, None, [False, {"k": []}]],
    {"nested": {"deeper": [1, {"x": "y"}]}, "z": 1, "a": 2},
    {"big": "x" * 60_000},
]


def make_context(args: argparse.Namespace) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.certfile:
        ctx.load_cert_chain(args.certfile, args.keyfile)
    return ctx


def make_client(args: argparse.Namespace) -> AsyncTCPNetworkClient[Any, Any]:
    return AsyncTCPNetworkClient(
        (args.host, args.port),
        StreamProtocol(JSONSerializer()),
        ssl=make_context(args),
        server_hostname=args.server_hostname,
        ssl_handshake_timeout=10.0,
    )


async def echo_checks(client: AsyncTCPNetworkClient[Any, Any]) -> int:
    for i, packet in enumerate(PACKETS):
        await client.send_packet(packet)
        reply = await client.recv_packet()
        if not strict_equal(reply, packet):
            raise Mismatch(f"packet #{i}: sent {short(packet)}, got back {short(reply)}")
    for packet in PACKETS:
        await client.send_packet(packet)
    for i, packet in enumerate(PACKETS):
        reply = await client.recv_packet()
        if not strict_equal(reply, packet):
            raise Mismatch(f"pipelined packet #{i}: sent {short(packet)}, got back {short(reply)}")
    return 2 * len(PACKETS)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.expect_refusal:
        try:
            async with make_client(args) as client:
                await client.send_packet({"let": "me in"})
                reply = await client.recv_packet()
        except (ssl.SSLError, ConnectionError, EOFError, OSError) as exc:
            return {"echoed": 0, "info": None, "refused": describe(exc)}
        raise Mismatch(f"expected the connection to be refused, got {short(reply)}")

    info = None
    async with make_client(args) as client:
        echoed = await echo_checks(client)
        if args.info:
            await client.send_packet({"cmd": "info"})
            info = await client.recv_packet()
    return {"echoed": echoed, "info": info, "refused": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cafile", required=True, help="the CA certificate(s) to trust (PEM)")
    parser.add_argument("--server-hostname", default="localhost", help="the name to check the certificate against (default: localhost)")
    parser.add_argument("--certfile", help="client certificate chain for mutual TLS (PEM)")
    parser.add_argument("--keyfile", help="its private key (PEM)")
    parser.add_argument("--info", action="store_true", help='also send {"cmd": "info"} and report the reply')
    parser.add_argument("--expect-refusal", action="store_true", help="the connection must be refused")
    client_main("tls_client", run, parser)


if __name__ == "__main__":
    main()
