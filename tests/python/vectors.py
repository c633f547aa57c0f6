#!/usr/bin/env python3
"""Test vectors made by easynetwork 1.2.0, for easynet's serializer tests.

``vectors.py produce``: reads a JSON object ``{"FORMAT": [packet, ...], ...}`` on stdin
and prints ``{"FORMAT": ["hex of the wire bytes", ...], ...}``: what a
``StreamProtocol`` of that format's easynetwork serializer writes for each packet
(``incremental_serialize``). A packet of a ``struct:FMT`` format is a JSON array, sent as
a tuple; strings in it stand for bytes (latin-1).

``vectors.py decode``: reads ``{"FORMAT": "hex of a stream", ...}`` on stdin and prints
``{"FORMAT": [packet, ...], ...}``: the packets easynetwork decodes from that stream fed in
chunks of 7 bytes (``incremental_deserialize``), a packet that fails to decode giving
``{"error": message}``. Bytes in a decoded packet are printed as latin-1 strings.

Base64 formats may carry options in their name: ``base64-json+standard+checksum`` or
``base64-json+key=KEY``. On any error prints ``FAIL: ...`` on stderr and exits 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from _common import check_easynetwork_version, fail
from _formats import make_serializer, wire_bytes, decode_stream


def serializer_for(name: str) -> Any:
    base, *options = name.split("+")
    alphabet = "urlsafe"
    checksum: bool | str = False
    for option in options:
        if option == "standard":
            alphabet = "standard"
        elif option == "checksum":
            checksum = True
        elif option.startswith("key="):
            checksum = option.removeprefix("key=")
        else:
            raise ValueError(f"unknown option {option!r} in {name!r}")
    return make_serializer(base, alphabet=alphabet, checksum=checksum)


def to_wire_packet(name: str, packet: Any) -> Any:
    if name.startswith("struct:"):
        return tuple(item.encode("latin-1") if isinstance(item, str) else item for item in packet)
    return packet


def to_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def main() -> None:
    check_easynetwork_version()
    if len(sys.argv) != 2 or sys.argv[1] not in ("produce", "decode"):
        fail("usage: vectors.py produce|decode < request.json")
    request = json.load(sys.stdin)
    result: dict[str, Any] = {}
    try:
        for name, value in request.items():
            serializer = serializer_for(name)
            if sys.argv[1] == "produce":
                result[name] = [wire_bytes(serializer, to_wire_packet(name, packet)).hex() for packet in value]
            else:
                result[name] = to_json(decode_stream(serializer, bytes.fromhex(value), chunk=7))
        # A value JSON cannot hold (cbor2's break marker, ...) is printed as its repr.
        output = json.dumps(result, allow_nan=True, default=repr)
    except Exception as exc:
        fail(f"vectors.py {sys.argv[1]}: {type(exc).__name__}: {exc}")
    print(output, flush=True)


if __name__ == "__main__":
    main()
