"""The wire formats shared by easynet and easynetwork 1.2.0, as easynetwork serializers.

Names are those of the ``--format`` option of easynet's ``echo_server`` / ``echo_client``:

- ``json``: ``JSONSerializer()`` (JSON lines, the default);
- ``json-nolines``: ``JSONSerializer(use_lines=False)``;
- ``lines``: ``StringLineSerializer(encoding="utf-8")``;
- ``cbor``: ``CBORSerializer()`` (needs the ``cbor`` extra: cbor2);
- ``msgpack``: ``MessagePackSerializer()`` (needs the ``msgpack`` extra: msgpack);
- ``base64-json``: ``Base64EncoderSerializer(JSONSerializer(), ...)``;
- ``zlib-json``: ``ZlibCompressorSerializer(JSONSerializer())``;
- ``bz2-json``: ``BZ2CompressorSerializer(JSONSerializer())``;
- ``struct:FMT``: ``StructSerializer(FMT)`` (network byte order unless FMT says otherwise).
"""

from __future__ import annotations

import argparse
from typing import Any

from easynetwork.serializers import (
    CBORSerializer,
    JSONSerializer,
    MessagePackSerializer,
    StringLineSerializer,
    StructSerializer,
)
from easynetwork.serializers.abc import AbstractIncrementalPacketSerializer
from easynetwork.serializers.wrapper import (
    Base64EncoderSerializer,
    BZ2CompressorSerializer,
    ZlibCompressorSerializer,
)

FORMATS = ["json", "json-nolines", "lines", "cbor", "msgpack", "base64-json", "zlib-json", "bz2-json"]


def add_format_arguments(parser: argparse.ArgumentParser) -> None:
    """``--format NAME`` and the base64 options ``--alphabet``, ``--checksum``, ``--key``."""
    parser.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}, or struct:FMT")
    parser.add_argument("--alphabet", default="urlsafe", choices=["urlsafe", "standard"], help="base64 alphabet")
    parser.add_argument("--checksum", action="store_true", help="base64: append a SHA-256 checksum")
    parser.add_argument("--key", default=None, help="base64: HMAC-SHA256 key (url-safe base64 of 32 bytes)")


def make_serializer(
    name: str,
    *,
    alphabet: str = "urlsafe",
    checksum: bool | str = False,
) -> AbstractIncrementalPacketSerializer[Any, Any]:
    """The easynetwork serializer of format `name`."""
    if name.startswith("struct:"):
        return StructSerializer(name.removeprefix("struct:"))
    match name:
        case "json":
            return JSONSerializer()
        case "json-nolines":
            return JSONSerializer(use_lines=False)
        case "lines":
            return StringLineSerializer(encoding="utf-8")
        case "cbor":
            return CBORSerializer()
        case "msgpack":
            return MessagePackSerializer()
        case "base64-json":
            return Base64EncoderSerializer(JSONSerializer(), alphabet=alphabet, checksum=checksum)  # type: ignore[arg-type]
        case "zlib-json":
            return ZlibCompressorSerializer(JSONSerializer())
        case "bz2-json":
            return BZ2CompressorSerializer(JSONSerializer())
    raise ValueError(f"unknown format {name!r}")


def serializer_from_args(args: argparse.Namespace) -> AbstractIncrementalPacketSerializer[Any, Any]:
    """The serializer that ``--format`` and the base64 options ask for."""
    checksum: bool | str = args.key if args.key is not None else args.checksum
    return make_serializer(args.format, alphabet=args.alphabet, checksum=checksum)


def wire_bytes(serializer: AbstractIncrementalPacketSerializer[Any, Any], packet: Any) -> bytes:
    """What a ``StreamProtocol`` of `serializer` writes on the stream for `packet`."""
    return b"".join(serializer.incremental_serialize(packet))


def decode_stream(serializer: AbstractIncrementalPacketSerializer[Any, Any], data: bytes, chunk: int) -> list[Any]:
    """Decodes every packet of `data`, fed `chunk` bytes at a time, as a stream protocol
    does; a packet that fails to decode gives ``{"error": message}``."""
    from easynetwork.exceptions import IncrementalDeserializeError

    packets: list[Any] = []
    pending = b""
    offset = 0
    consumer = None
    while True:
        if consumer is None:
            consumer = serializer.incremental_deserialize()
            next(consumer)
        if pending:
            feed, pending = pending, b""
        elif offset < len(data):
            feed = data[offset : offset + chunk]
            offset += chunk
        else:
            return packets
        try:
            consumer.send(feed)
        except StopIteration as stop:
            packet, pending = stop.value
            packets.append(packet)
            consumer = None
        except IncrementalDeserializeError as exc:
            packets.append({"error": str(exc)})
            pending = bytes(exc.remaining_data)
            consumer = None
