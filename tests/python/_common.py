"""Helpers shared by the Python interop peers of easynet's tests.

Every peer follows the same rules, so that a Rust test driving it can rely on them:

- it uses only easynetwork 1.2.0's public API, on asyncio;
- every wait is bounded: clients give up after ``--timeout`` seconds, servers stop on
  their own after ``--lifetime`` seconds (a leaked server never lingers);
- on any mismatch or error it prints one line starting with ``FAIL:`` on stderr and exits
  with status 1; a client that succeeds prints one summary line on stdout and exits 0;
- a server prints ``<name> listening on HOST:PORT`` on stdout (flushed) once it accepts
  connections, then runs until its stdin closes, it gets SIGTERM or SIGINT, or its
  lifetime ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import stat
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

REQUIRED_EASYNETWORK = "1.2.0"

try:
    import easynetwork
except ImportError:
    print(
        f"FAIL: easynetwork is not installed for {sys.executable}: "
        "`pip install -r tests/python/requirements.txt` (or run tests/run.sh)",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(1)


class Mismatch(Exception):
    """A check failed: the message says what was expected and what came instead."""


def fail(message: str) -> NoReturn:
    """Prints ``FAIL: message`` on stderr and exits with status 1."""
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def check_easynetwork_version() -> None:
    """Fails unless the installed easynetwork is the version the tests are written for."""
    if easynetwork.__version__ != REQUIRED_EASYNETWORK:
        fail(f"easynetwork {REQUIRED_EASYNETWORK} required, found {easynetwork.__version__}")


def setup_logging() -> None:
    """Logs warnings and errors of easynetwork (a handler crash, ...) on stderr."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s:%(name)s:%(message)s")


def strict_equal(a: Any, b: Any) -> bool:
    """JSON value equality that, unlike ``==``, tells ``1`` from ``1.0`` and from ``True``,
    and ``0.0`` from ``-0.0``; object key order does not matter."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def short(value: Any, limit: int = 200) -> str:
    """A bounded ``repr`` for messages (huge packets are cut)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def describe(exc: BaseException) -> str:
    """``Type: message``, with the errors inside an exception group spelled out."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BaseExceptionGroup):
        text += " [" + "; ".join(describe(inner) for inner in exc.exceptions) + "]"
    return text


def summary(name: str, **fields: Any) -> None:
    """Prints the success line: ``<name> OK <json object>``."""
    print(f"{name} OK {json.dumps(fields, sort_keys=True)}", flush=True)


def client_main(name: str, run: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]], parser: argparse.ArgumentParser) -> None:
    """Runs a client coroutine under a hard timeout; prints its summary or fails."""
    parser.add_argument("--host", default="127.0.0.1", help="server host (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="server port")
    parser.add_argument("--timeout", type=float, default=20.0, help="give up after this many seconds (default: 20)")
    args = parser.parse_args()
    check_easynetwork_version()
    setup_logging()

    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(args.timeout):
            return await run(args)

    try:
        fields = asyncio.run(bounded())
    except TimeoutError:
        fail(f"{name}: timed out after {args.timeout}s")
    except Mismatch as exc:
        fail(f"{name}: {exc}")
    except Exception as exc:  # any other error is a failure too, with its type
        fail(f"{name}: {describe(exc)}")
    summary(name, **fields)


def server_main(name: str, make_server: Callable[[argparse.Namespace], Any], parser: argparse.ArgumentParser) -> None:
    """Runs an easynetwork ``AsyncTCPNetworkServer`` until stdin closes, SIGTERM/SIGINT,
    or ``--lifetime`` seconds; prints ``<name> listening on HOST:PORT`` once it is up."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    parser.add_argument("--lifetime", type=float, default=120.0, help="stop after this many seconds (default: 120)")
    args = parser.parse_args()
    check_easynetwork_version()
    setup_logging()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await watch_stdin(stop)

        async with make_server(args) as server:
            is_up = asyncio.Event()
            serving = asyncio.create_task(server.serve_forever(is_up_event=is_up))
            up = asyncio.create_task(is_up.wait())
            await asyncio.wait([serving, up], timeout=30.0, return_when=asyncio.FIRST_COMPLETED)
            if not is_up.is_set():
                if serving.done():
                    serving.result()  # raises the reason it stopped
                raise TimeoutError("server did not start within 30s")
            address = server.get_addresses()[0]
            print(f"{name} listening on {address.host}:{address.port}", flush=True)

            stopped = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([serving, stopped], timeout=args.lifetime, return_when=asyncio.FIRST_COMPLETED)
            if serving in done:
                serving.result()
                raise RuntimeError("serve_forever() returned on its own")
            stopped.cancel()
            async with asyncio.timeout(10.0):
                await server.shutdown()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving

    try:
        asyncio.run(serve())
    except Exception as exc:
        fail(f"{name}: {describe(exc)}")


async def watch_stdin(stop: asyncio.Event) -> None:
    """Sets `stop` when stdin reaches end of file (the parent closed it or died)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return  # no stdin
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return  # not a pipe (a terminal, /dev/null, a file): rely on signals and the lifetime
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def wait_eof() -> None:
        while await reader.read(4096):
            pass
        stop.set()

    task = asyncio.create_task(wait_eof())
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()
