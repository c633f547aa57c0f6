"""The Python easynetwork 1.2.0 echo server of the benchmark harness.

An ``AsyncTCPNetworkServer`` with a bytes line serializer (``AutoSeparatedPacketSerializer``
with ``b"\\n"``) and a request handler whose ``handle`` generator has an inner loop, on
asyncio or, with ``--uvloop``, on uvloop. It prints ``easynetwork_server listening on
ADDR`` once up and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from collections.abc import AsyncGenerator

from easynetwork.protocol import DatagramProtocol, StreamProtocol
from easynetwork.serializers.abc import AbstractPacketSerializer
from easynetwork.serializers.base_stream import AutoSeparatedPacketSerializer
from easynetwork.servers import AsyncTCPNetworkServer, AsyncUDPNetworkServer
from easynetwork.servers.handlers import (
    AsyncDatagramClient,
    AsyncDatagramRequestHandler,
    AsyncStreamClient,
    AsyncStreamRequestHandler,
)


class BytesLineSerializer(AutoSeparatedPacketSerializer[bytes, bytes]):
    """Each packet is the bytes of one line, without its newline."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(separator=b"\n", incremental_serialize_check_separator=False)

    def serialize(self, packet: bytes) -> bytes:
        return packet

    def deserialize(self, data: bytes) -> bytes:
        return data


class EchoHandler(AsyncStreamRequestHandler[bytes, bytes]):
    async def handle(self, client: AsyncStreamClient[bytes]) -> AsyncGenerator[None, bytes]:
        while True:
            request: bytes = yield
            await client.send_packet(request)


class BytesSerializer(AbstractPacketSerializer[bytes, bytes]):
    """Each datagram is one packet: its bytes."""

    __slots__ = ()

    def serialize(self, packet: bytes) -> bytes:
        return packet

    def deserialize(self, data: bytes) -> bytes:
        return data


class DatagramEchoHandler(AsyncDatagramRequestHandler[bytes, bytes]):
    async def handle(self, client: AsyncDatagramClient[bytes]) -> AsyncGenerator[None, bytes]:
        request: bytes = yield
        await client.send_packet(request)


async def main_udp(port: int) -> None:
    server = AsyncUDPNetworkServer(
        "127.0.0.1", port, DatagramProtocol(BytesSerializer()), DatagramEchoHandler()
    )
    async with server:
        is_up = asyncio.Event()
        task = asyncio.create_task(server.serve_forever(is_up_event=is_up))
        await is_up.wait()
        address = server.get_addresses()[0]
        print(f"easynetwork_server listening on {address.host}:{address.port}", flush=True)
        await task


async def main(port: int, tls_cert: str | None, tls_key: str | None) -> None:
    ssl_context = None
    if tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(tls_cert, tls_key)
    server = AsyncTCPNetworkServer(
        "127.0.0.1",
        port,
        StreamProtocol(BytesLineSerializer()),
        EchoHandler(),
        ssl=ssl_context,
        log_client_connection=False,
    )
    async with server:
        is_up = asyncio.Event()
        task = asyncio.create_task(server.serve_forever(is_up_event=is_up))
        await is_up.wait()
        address = server.get_addresses()[0]
        print(f"easynetwork_server listening on {address.host}:{address.port}", flush=True)
        await task


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--udp", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        runner = uvloop.run
    else:
        runner = asyncio.run
    try:
        runner(main_udp(args.port) if args.udp else main(args.port, args.tls_cert, args.tls_key))
    except KeyboardInterrupt:
        sys.exit(0)
