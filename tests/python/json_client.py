#!/usr/bin/env python3
"""JSON-lines client peer: checks that an easynet JSON echo server talks to easynetwork.

It connects with ``AsyncTCPNetworkClient((host, port), StreamProtocol(JSONSerializer()))``
(easynetwork 1.2.0 defaults: compact JSON, ``ensure_ascii=True``, one document per line)
and checks that the server echoes every packet unchanged (strict equality: ``1`` is not
``1.0``), first one at a time, then all pipelined. The packets are the JSON texts given
as arguments, or a built-in varied set.

``--expect-error``: each given packet must instead be answered with ``{"error": "<msg>"}``,
and the connection must stay usable (a probe packet is echoed afterwards).

``--error-checks``: the server's rules for bad input, over the easynetwork client and over
a plain socket (exact bytes): invalid JSON, invalid UTF-8, an empty line, lines over the
64 KiB limit (whole, or arriving in pieces) each get exactly one ``{"error": ...}`` reply
and the connection stays usable; a line of exactly 64 KiB is accepted; fragmented,
pipelined, CRLF-terminated and space-padded documents are echoed.

On success prints ``json_client OK {"packets": P, "echoed": N, "errors": [...],
"raw_echoes": M}`` (``packets``: how many packets the echo checks used, each echoed twice;
``errors``: the server's error messages, in order; ``raw_echoes``: documents echoed on the
plain socket); on any mismatch prints ``FAIL: ...``
on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from _common import Mismatch, client_main, short, strict_equal
from easynetwork.clients import AsyncTCPNetworkClient
from easynetwork.protocol import StreamProtocol
from easynetwork.serializers import JSONSerializer

LIMIT = 64 * 1024  # easynetwork's and easynet's default maximum frame size


def builtin_packets() -> list[Any]:
    """A varied set of JSON values, all representable in Rust's serde_json::Value."""
    deep: Any = "bottom"
    for _ in range(100):
        deep = [deep]
    return [
        None,
        True,
        False,
        0,
        -1,
        42,
        2**53 + 1,
        2**63 - 1,
        -(2**63),
        2**64 - 1,
        0.1,
        -2.5,
        1.0,
        -0.0,
        1e300,
        1.5e-7,
        5e-324,
        3.141592653589793,
        123456.789,
        "",
        "hello",
        'quote " backslash \\ slash / tab \t newline \n cr \r nul \x00 bell \x07 del \x7f',
        "caf\u00e9 \u00fcn\u00efc\u00f8d\u00e9",
        "\u65e5\u672c\u8a9e",
        "\U0001f600 non-BMP \U0001d11e \U0010ffff",
        "\u2028\u2029\ufeff",
        [],
        {},
        [[]],
        {"": {}},
        [1, "two", 3.5, None, True, [False, {"k": []}]],
        {"nested": {"deeper": {"deepest": [1, {"x": "y"}]}}, "list": [1, 2, 3]},
        {"unicode key \u00e9": "v", "\U0001f600": "emoji key", 'quo"te': "back\\slash", "new\nline": "\t"},
        {"z": 1, "a": 2, "m": 3},
        deep,
        {"big": "x" * 60_000},
        "\u00e9" * 10_000,  # 60 002 bytes as Python sends it (\u00e9 escapes), 20 002 as UTF-8
    ]


def is_error_reply(reply: Any) -> bool:
    return isinstance(reply, dict) and list(reply) == ["error"] and isinstance(reply["error"], str) and bool(reply["error"])


async def echo_checks(client: AsyncTCPNetworkClient[Any, Any], packets: list[Any]) -> int:
    """Each packet is echoed unchanged: one at a time, then all pipelined."""
    for i, packet in enumerate(packets):
        await client.send_packet(packet)
        reply = await client.recv_packet()
        if not strict_equal(reply, packet):
            raise Mismatch(f"packet #{i}: sent {short(packet)}, got back {short(reply)}")
    for packet in packets:
        await client.send_packet(packet)
    for i, packet in enumerate(packets):
        reply = await client.recv_packet()
        if not strict_equal(reply, packet):
            raise Mismatch(f"pipelined packet #{i}: sent {short(packet)}, got back {short(reply)}")
    return 2 * len(packets)


async def probe(client: AsyncTCPNetworkClient[Any, Any], after: str) -> None:
    packet = {"probe": after}
    await client.send_packet(packet)
    reply = await client.recv_packet()
    if not strict_equal(reply, packet):
        raise Mismatch(f"connection unusable after {after}: probe got {short(reply)}")


async def expect_error_checks(client: AsyncTCPNetworkClient[Any, Any], packets: list[Any], errors: list[str]) -> None:
    """Each packet gets an error reply; the connection stays usable."""
    for i, packet in enumerate(packets):
        await client.send_packet(packet)
        reply = await client.recv_packet()
        if not is_error_reply(reply):
            raise Mismatch(f"packet #{i} {short(packet)}: expected an error reply, got {short(reply)}")
        errors.append(reply["error"])
        await probe(client, f"packet #{i} {short(packet)}")


class RawConnection:
    """A plain asyncio socket, to send exact bytes and read exact reply lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, *chunks: bytes, pause: float = 0.0) -> None:
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
            if pause:
                await asyncio.sleep(pause)

    async def line(self) -> bytes:
        line = await self.reader.readline()
        if not line.endswith(b"\n"):
            raise Mismatch(f"connection closed by the server (partial line {short(line)})")
        return line

    async def reply(self) -> Any:
        line = await self.line()
        try:
            return json.loads(line)
        except ValueError as exc:
            raise Mismatch(f"server sent invalid JSON {short(line)}: {exc}") from None

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def raw_error_checks(conn: RawConnection, errors: list[str]) -> int:
    """Exact bytes on a plain socket. Returns how many documents were echoed."""
    echoes = 0

    async def expect_echo(what: str, value: Any) -> None:
        nonlocal echoes
        reply = await conn.reply()
        if not strict_equal(reply, value):
            raise Mismatch(f"{what}: expected {short(value)}, got {short(reply)}")
        echoes += 1

    async def expect_error(what: str) -> None:
        reply = await conn.reply()
        if not is_error_reply(reply):
            raise Mismatch(f"{what}: expected one {{\"error\": ...}} reply, got {short(reply)}")
        errors.append(reply["error"])
        # Exactly one error: the next document is echoed, not another error.
        await conn.send(b'{"after":' + json.dumps(what).encode() + b"}\n")
        await expect_echo(f"after {what}", {"after": what})

    await conn.send(b'{"frag', b'mented": "y', b'es"}', b"\n", pause=0.05)
    await expect_echo("a document written in four pieces", {"fragmented": "yes"})

    await conn.send(b"[1]\n[2]\n[3]\n")
    for n in (1, 2, 3):
        await expect_echo(f"pipelined document {n}", [n])

    await conn.send(b'{"crlf": "caf\\u00e9"}\r\n')
    await expect_echo("a CRLF-terminated line", {"crlf": "caf\u00e9"})

    await conn.send(b'   {"padded": true}  \t\n')
    await expect_echo("a space-padded document", {"padded": True})

    await conn.send(b"{oops\n")
    await expect_error("invalid JSON")

    await conn.send(b'"\xff\xfe"\n')
    await expect_error("invalid UTF-8")

    await conn.send(b"\n")
    await expect_error("an empty line")

    # A line of exactly LIMIT bytes (without its newline) is accepted; one more is not.
    exact = b'"' + b"a" * (LIMIT - 2) + b'"'
    await conn.send(exact + b"\n")
    line = await conn.line()
    if line != exact + b"\n":
        raise Mismatch(f"a line of exactly {LIMIT} bytes: expected it echoed byte for byte, got {short(line)}")
    echoes += 1

    await conn.send(b'"' + b"a" * (LIMIT - 1) + b'"\n')
    await expect_error(f"a line of {LIMIT + 1} bytes")

    await conn.send(b'"' + b"b" * 200_000 + b'"\n')
    await expect_error("a 200 KB line written at once")

    await conn.send(b'{"long": "', *([b"c" * 30_000] * 4), b'"}\n', pause=0.02)
    await expect_error("a 120 KB line arriving in pieces")

    return echoes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    packets = [json.loads(text) for text in args.packets] if args.packets else None
    errors: list[str] = []
    echoed = raw_echoes = 0
    to_echo: list[Any] = []
    protocol = StreamProtocol(JSONSerializer())
    async with AsyncTCPNetworkClient((args.host, args.port), protocol) as client:
        if args.expect_error:
            if not packets:
                raise Mismatch("--expect-error needs packets")
            await expect_error_checks(client, packets, errors)
        elif not args.no_echo:
            to_echo = packets or builtin_packets()
            echoed = await echo_checks(client, to_echo)

        if args.error_checks:
            # Through easynetwork's own client: a packet over the limit, then more traffic.
            await client.send_packet({"too long": "z" * (LIMIT + 10)})
            reply = await client.recv_packet()
            if not is_error_reply(reply):
                raise Mismatch(f"a packet over {LIMIT} bytes: expected an error reply, got {short(reply)}")
            errors.append(reply["error"])
            await probe(client, "a packet over the limit")

            conn = await RawConnection.connect(args.host, args.port)
            try:
                raw_echoes = await raw_error_checks(conn, errors)
            finally:
                await conn.close()

        # The first connection is still fine after everything on the second one.
        await probe(client, "all checks")
    return {"packets": len(to_echo), "echoed": echoed, "errors": errors, "raw_echoes": raw_echoes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packets", nargs="*", metavar="PACKET", help="JSON text of a packet to send (default: a built-in set)")
    parser.add_argument("--no-echo", action="store_true", help="skip the echo checks")
    parser.add_argument("--error-checks", action="store_true", help="check the server's handling of bad input")
    parser.add_argument("--expect-error", action="store_true", help="each PACKET must get an error reply")
    client_main("json_client", run, parser)


if __name__ == "__main__":
    main()
