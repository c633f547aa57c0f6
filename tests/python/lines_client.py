#!/usr/bin/env python3
"""String-lines client peer: checks an easynet ``StringLines`` server that answers every
line ``L`` with ``"echo:" + L``.

It connects with ``AsyncTCPNetworkClient((host, port),
StreamProtocol(StringLineSerializer(newline, encoding=...)))`` (easynetwork's defaults:
``newline="LF"``, ``encoding="ascii"``), sends each LINE given as argument (or a built-in
set fitting the encoding), one at a time then all pipelined, and checks each answer.

easynetwork's ``StringLineSerializer`` sends nothing at all for an empty string, and
sends a string that already ends with the newline as is: so empty lines and lines
containing the newline are refused here, as they would not be sent as one line.

On success prints ``lines_client OK {"lines": N, "replies": [...]}`` (replies cut to 80
characters); on any mismatch
prints ``FAIL: ...`` on stderr and exits 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from _common import Mismatch, client_main, short
from easynetwork.clients import AsyncTCPNetworkClient
from easynetwork.protocol import StreamProtocol
from easynetwork.serializers import StringLineSerializer

SEPARATORS = {"LF": "\n", "CR": "\r", "CRLF": "\r\n"}


def builtin_lines(encoding: str, newline: str) -> list[str]:
    lines = [
        "hello",
        "with spaces, punctuation: {json-like} [1, 2] \"quotes\" \\backslash",
        " leading and trailing spaces ",
        "tab\there",
        "x" * 60_000,
    ]
    if newline != "CR":
        lines.append("carriage\rreturn inside")
    if newline != "LF":
        lines.append("line\nfeed inside")
    if encoding.replace("-", "").lower() in ("utf8", "utf_8"):
        lines += ["caf\u00e9", "\u65e5\u672c\u8a9e", "\U0001f600 non-BMP \U0001d11e", "\u00e9" * 30_000]
    return lines


async def run(args: argparse.Namespace) -> dict[str, Any]:
    separator = SEPARATORS[args.newline]
    lines = args.lines or builtin_lines(args.encoding, args.newline)
    for line in lines:
        if not line or separator in line:
            raise Mismatch(f"cannot send {short(line)} as one line with newline={args.newline}")
    replies: list[str] = []
    protocol = StreamProtocol(StringLineSerializer(args.newline, encoding=args.encoding))
    async with AsyncTCPNetworkClient((args.host, args.port), protocol) as client:
        for line in lines:
            await client.send_packet(line)
            reply = await client.recv_packet()
            if reply != f"echo:{line}":
                raise Mismatch(f"sent {short(line)}, expected {short('echo:' + line)}, got {short(reply)}")
            replies.append(reply)
        for line in lines:
            await client.send_packet(line)
        for line in lines:
            reply = await client.recv_packet()
            if reply != f"echo:{line}":
                raise Mismatch(f"pipelined {short(line)}: expected {short('echo:' + line)}, got {short(reply)}")
    return {"lines": len(lines), "replies": [reply[:80] for reply in replies]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lines", nargs="*", metavar="LINE", help="a line to send (default: a built-in set)")
    parser.add_argument("--encoding", default="ascii", help='line encoding (default: "ascii", as easynetwork)')
    parser.add_argument("--newline", default="LF", choices=list(SEPARATORS), help="line separator (default: LF)")
    client_main("lines_client", run, parser)


if __name__ == "__main__":
    main()
