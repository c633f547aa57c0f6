#!/usr/bin/env python3
"""easynet's benchmark harness: echo servers measured side by side in one run.

Usage (from the repository root):

    python3 examples/bench/run.py                 # the full run, writes BENCHMARKS.md
    python3 examples/bench/run.py --smoke         # CI: each server 1 s, echoes verified
    python3 examples/bench/run.py --servers tokio-raw,easynet-loop --scenarios 1024x1x10
    python3 examples/bench/run.py --sections haproxy,udp   # only those, merged into
                                                           # results.json and BENCHMARKS.md

It builds ``bench_server`` and ``bench_client`` (examples of easynet-examples) in release
mode, installs Python easynetwork 1.2.0 and uvloop in ``target/bench-venv``, then for each
scenario runs every server several times, alternating, each pinned to one core with the
client pinned to the other (``taskset``). The figure to compare is the server's CPU time
per request, read from ``/proc/PID/stat`` over the measured window: on two cores the
single-threaded client saturates before a Rust server does, so requests/s only says "at
least". Medians of the runs are reported.

Everything targets 127.0.0.1, is bounded in count and time, and stops by itself.
"""

from __future__ import annotations

import argparse
import json
from html import escape
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

RUST_SERVERS = [
    "easynet-loop",
    "easynet-per-request",
    "easynet-json",
    "tokio-raw",
    "framed-send",
    "framed-feed",
    "framed-json",
]
# The `echo_server` example itself, as a user runs it: `--format NAME`.
EXAMPLE_SERVERS = {"echo-lines": "lines", "echo-json": "json"}
# Hand-written baselines on the runtime the example runs on (`#[tokio::main]`, one
# worker thread): `bench_server --kind KIND --multi-thread` for `KIND-mt`. The example's
# targets compare it with these, like with like; the current-thread figures are shown
# beside them.
MULTI_THREAD_SERVERS = ["tokio-raw-mt", "framed-feed-mt", "framed-json-mt"]
PYTHON_SERVERS = ["easynetwork-asyncio", "easynetwork-uvloop"]
ALL_SERVERS = (["echo-lines", "echo-json"] + RUST_SERVERS + MULTI_THREAD_SERVERS
               + PYTHON_SERVERS)
# The broadcast servers of `bench_broadcast serve --kind NAME`, and the period of their
# packets.
BROADCAST_SERVERS = ["easynet-broadcast", "tokio-broadcast"]
BROADCAST_EVERY_MS = 10
# Servers that only speak JSON documents.
JSON_ONLY = ("easynet-json", "echo-json", "framed-json", "framed-json-mt")

LABELS = {
    "echo-lines": "`echo_server --format lines` (the example: StringLines, generator per request)",
    "echo-json": "`echo_server --format json` (the example: JSON lines, exact text)",
    "easynet-loop": "easynet, bytes lines, inner loop",
    "easynet-per-request": "easynet, bytes lines, generator per request",
    "easynet-json": "easynet, JSON lines",
    "tokio-raw": "raw tokio echo",
    "framed-send": "Framed<LinesCodec>, send per message",
    "framed-feed": "Framed<LinesCodec>, feed then flush",
    "framed-json": "Framed<LinesCodec> + serde_json, feed then flush",
    "tokio-raw-mt": "raw tokio echo, `#[tokio::main]` runtime (1 worker)",
    "framed-feed-mt": "Framed<LinesCodec>, feed then flush, `#[tokio::main]` runtime (1 worker)",
    "framed-json-mt": "Framed<LinesCodec> + serde_json, `#[tokio::main]` runtime (1 worker)",
    "easynetwork-asyncio": "Python easynetwork 1.2.0, asyncio",
    "easynetwork-uvloop": "Python easynetwork 1.2.0, uvloop",
    "easynet-broadcast": "easynet, `server.broadcast(&packet)`",
    "tokio-broadcast": "tokio: `sync::broadcast` + a writer task per connection",
}


@dataclass(frozen=True)
class Scenario:
    """One load: message size, messages per request, connections."""

    msize: int
    mpr: int
    conns: int
    json: bool = False
    tls: bool = False

    @property
    def name(self) -> str:
        return (f"{self.msize}x{self.mpr}x{self.conns}" + ("-json" if self.json else "")
                + ("-tls" if self.tls else ""))

    def servers(self, chosen: list[str]) -> list[str]:
        if self.json:
            # The JSON variant: the example and easynet's JSON server against the
            # hand-written JSON peer and the raw and bytes baselines.
            return [s for s in chosen if s in JSON_ONLY + ("easynet-loop", "tokio-raw")]
        if self.tls:
            return [s for s in chosen
                    if s in ("echo-lines", "easynet-loop", "tokio-raw", "framed-feed",
                             "framed-feed-mt", "easynetwork-uvloop")]
        return [s for s in chosen if s not in JSON_ONLY]


SCENARIOS = [
    Scenario(1024, 1, 10),
    Scenario(1024, 5, 10),
    Scenario(64, 1, 100),
    Scenario(65000, 1, 3),
    Scenario(1024, 1, 10, json=True),
    Scenario(1024, 1, 10, tls=True),
]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (openssl), for the TLS scenario."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"],
        check=True, capture_output=True,
    )
    return cert, key


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def target_dir() -> Path:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return Path(json.loads(out)["target_directory"])


BINARIES = ["bench_server", "bench_client", "echo_server", "bench_broadcast", "bench_fairness",
            "bench_decoders", "bench_udp", "udp_echo_server"]

# What a run may measure: `tcp` is every section of the full TCP run (echo scenarios,
# memory, broadcast, fairness, decoders); `haproxy` the HAProxy hop and the PROXY header's
# cost per connection; `udp` the UDP echo servers.
SECTIONS = ["tcp", "haproxy", "udp"]

# The HAProxy section: echo_server's hop against HAProxy's, and the cost per connection of
# the PROXY protocol header.
HAPROXY_REQUEST_KINDS = ["direct", "haproxy"]
HAPROXY_CONNECTION_KINDS = ["plain", "proxy-v2", "haproxy-plain", "haproxy-proxy-v2"]
HAPROXY_LABELS = {
    "direct": "client → `echo_server`",
    "haproxy": "client → HAProxy → `echo_server`",
    "plain": "client → `echo_server` (no header)",
    "proxy-v2": "client → `echo_server --proxy-protocol 127.0.0.1`, the client sends a v2 header",
    "haproxy-plain": "client → HAProxy → `echo_server` (no header)",
    "haproxy-proxy-v2": "client → HAProxy `send-proxy-v2` → `echo_server --proxy-protocol 127.0.0.1`",
}
HAPROXY_REQUEST = Scenario(1024, 1, 10)
HAPROXY_CONNECTIONS = 10

# The UDP section: servers and datagram sizes.
UDP_SERVERS = ["udp-easynet", "udp-tokio", "udp-easynetwork-asyncio", "udp-easynetwork-uvloop"]
UDP_LABELS = {
    "udp-easynet": "`udp_echo_server --format lines` (the example: easynet `UdpServer`)",
    "udp-tokio": "hand-written tokio `UdpSocket` echo (`bench_udp serve`)",
    "udp-easynetwork-asyncio": "Python easynetwork 1.2.0 `AsyncUDPNetworkServer`, asyncio",
    "udp-easynetwork-uvloop": "Python easynetwork 1.2.0 `AsyncUDPNetworkServer`, uvloop",
}
UDP_SIZES = [64, 1024]
UDP_SOCKETS, UDP_INFLIGHT = 4, 16


def build() -> dict[str, Path]:
    log(f"building {', '.join(BINARIES)} (release)")
    command = ["cargo", "build", "--release", "-p", "easynet-examples"]
    for name in BINARIES:
        command += ["--example", name]
    subprocess.run(command, cwd=ROOT, check=True)
    examples = target_dir() / "release" / "examples"
    return {name: examples / name for name in BINARIES}


def python_venv() -> Path:
    venv = target_dir() / "bench-venv"
    python = venv / "bin" / "python"
    check = "import easynetwork, uvloop, sys; sys.exit(easynetwork.__version__ != '1.2.0')"
    if python.exists() and subprocess.run([python, "-c", check]).returncode == 0:
        return python
    log(f"installing easynetwork 1.2.0 and uvloop in {venv}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", HERE / "requirements.txt"],
        check=True,
    )
    return python


def pinned(cpu: int | None, command: list) -> list:
    if cpu is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    # Fields 14 and 15 (utime, stime), counted from 1; fields[0] is field 3.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Server:
    """A server process, started and announced."""

    def __init__(self, kind: str, binaries: dict[str, Path], python: Path | None,
                 cpu: int | None, tls: tuple[Path, Path] | None = None,
                 extra_args: list[str] | None = None):
        env = None
        quiet = {**os.environ, "TOKIO_WORKER_THREADS": "1", "RUST_LOG": "warn"}
        if kind == "udp-easynet":
            command = [binaries["udp_echo_server"], "--format", "lines", "--port", "0",
                       "--host", "127.0.0.1"]
            env = quiet
        elif kind == "udp-tokio":
            command = [binaries["bench_udp"], "serve", "--port", "0"]
            env = quiet
        elif kind.startswith("udp-easynetwork"):
            command = [python, HERE / "easynetwork_server.py", "--udp", "--port", "0"]
            if kind.endswith("uvloop"):
                command.append("--uvloop")
        elif kind in RUST_SERVERS:
            command = [binaries["bench_server"], "--kind", kind, "--port", "0"]
        elif kind in MULTI_THREAD_SERVERS:
            command = [binaries["bench_server"], "--kind", kind.removesuffix("-mt"), "--port",
                       "0", "--multi-thread"]
        elif kind in EXAMPLE_SERVERS:
            # The example as shipped (its `#[tokio::main]` runtime, one worker thread on
            # its core; logs at warn so that connections are not logged on stderr).
            command = [binaries["echo_server"], "--format", EXAMPLE_SERVERS[kind], "--port", "0"]
            env = {**os.environ, "TOKIO_WORKER_THREADS": "1", "RUST_LOG": "warn"}
        elif kind in BROADCAST_SERVERS:
            command = [binaries["bench_broadcast"], "serve", "--kind", kind.split("-")[0],
                       "--port", "0", "--every-ms", str(BROADCAST_EVERY_MS)]
        else:
            command = [python, HERE / "easynetwork_server.py", "--port", "0"]
            if kind == "easynetwork-uvloop":
                command.append("--uvloop")
        if tls:
            command += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        command += extra_args or []
        self.kind = kind
        self.process = subprocess.Popen(
            pinned(cpu, command), stdout=subprocess.PIPE, text=True, env=env,
        )
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"{kind} did not start: {line!r}")
        self.addr = line.rsplit(" ", 1)[1].strip()

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server so far (all its threads)."""
        return cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()


@dataclass
class Run:
    requests_per_s: float
    mib_per_s: float
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int
    cpu_us_per_request: float


def run_client(command: list, cpu: int | None, pids: dict[str, int], timeout: float,
               what: str) -> tuple[dict, dict[str, float]]:
    """Runs one load client (`bench_client`, `bench_broadcast listen`, `bench_udp load`):
    it prints `measuring` when its warm-up ends, then one JSON report when done. Returns
    the report and the CPU seconds each process of `pids` (name: pid) spent in between."""
    process = subprocess.Popen(pinned(cpu, command), stdout=subprocess.PIPE, text=True)
    try:
        marker = process.stdout.readline()
        if marker.strip() != "measuring":
            raise RuntimeError(f"{what}: {marker!r}")
        start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        report_line = process.stdout.readline()
        end = {name: cpu_seconds(pid) for name, pid in pids.items()}
        status = process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    if status != 0:
        raise RuntimeError(f"{what} failed ({status})")
    return json.loads(report_line), {name: end[name] - start[name] for name in pids}


def measure(server: Server, client: Path, scenario: Scenario, seconds: float,
            warmup: float, cpu: int | None, ca: Path | None = None) -> Run:
    command = [
        client, "--addr", server.addr, "--conns", str(scenario.conns),
        "--msize", str(scenario.msize), "--mpr", str(scenario.mpr),
        "--duration", str(seconds), "--warmup", str(warmup),
    ]
    if scenario.json:
        command.append("--json")
    if scenario.tls:
        command += ["--tls-ca", ca]
    report, spent = run_client(command, cpu, {"server": server.pid}, seconds + warmup + 30,
                               f"client against {server.kind}")
    requests = report["requests"]
    latency = report["latency_us"]
    return Run(
        requests_per_s=requests / report["seconds"],
        mib_per_s=report["bytes"] / report["seconds"] / (1024 * 1024),
        p50_us=latency["p50"],
        p90_us=latency["p90"],
        p99_us=latency["p99"],
        max_us=latency["max"],
        cpu_us_per_request=spent["server"] * 1e6 / max(requests, 1),
    )


def median_run(runs: list[Run]) -> Run:
    return Run(*(
        statistics.median(getattr(r, f) for r in runs)
        for f in Run.__dataclass_fields__
    ))


@dataclass
class Memory:
    idle_kib_per_conn: float
    after_large_kib_per_conn: float


def measure_memory(server: Server, client: Path, conns: int, cpu: int | None) -> Memory:
    baseline = server.rss_kib()
    process = subprocess.Popen(
        pinned(cpu, [client, "--addr", server.addr, "--idle", str(conns), "--msize", "65000"]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        if process.stdout.readline().strip() != "connected":
            raise RuntimeError("idle client failed")
        time.sleep(1.0)
        idle = server.rss_kib()
        process.stdin.write("echo\n")
        process.stdin.flush()
        if process.stdout.readline().strip() != "echoed":
            raise RuntimeError("idle client failed to echo")
        time.sleep(1.0)
        after = server.rss_kib()
        process.stdin.close()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Memory((idle - baseline) / conns, (after - baseline) / conns)


@dataclass
class BroadcastRun:
    delivered_per_s: float
    missed: float
    cpu_us_per_packet: float


def measure_broadcast(server: Server, binary: Path, clients: int, seconds: float,
                      warmup: float, cpu: int | None) -> BroadcastRun:
    """Server CPU per packet delivered while it pushes one packet to `clients` clients
    every BROADCAST_EVERY_MS (the listening clients check every packet)."""
    command = [binary, "listen", "--addr", server.addr, "--clients", str(clients),
               "--duration", str(seconds), "--warmup", str(warmup)]
    report, spent = run_client(command, cpu, {"server": server.pid}, seconds + warmup + 60,
                               f"broadcast listener against {server.kind}")
    delivered = report["delivered"]
    return BroadcastRun(
        delivered_per_s=delivered / report["seconds"],
        missed=report["missed"],
        cpu_us_per_packet=spent["server"] * 1e6 / max(delivered, 1),
    )


def median_broadcast(runs: list[BroadcastRun]) -> BroadcastRun:
    return BroadcastRun(*(
        statistics.median(getattr(r, f) for r in runs)
        for f in BroadcastRun.__dataclass_fields__
    ))


def measure_fairness(binaries: dict[str, Path], server_cpu: int | None,
                     client_cpu: int | None, samples: int, seconds: int) -> dict:
    """One run of bench_fairness against the echo_server example (pinned like the
    others): a polite client's round trips, idle and under the tiny-request flood."""
    command = [binaries["bench_fairness"], "--server", binaries["echo_server"], "--json",
               "--samples", str(samples), "--seconds", str(seconds)]
    if server_cpu is not None and shutil.which("taskset"):
        command += ["--pin-server", str(server_cpu)]
    out = subprocess.run(pinned(client_cpu, command), check=True, capture_output=True,
                         text=True, timeout=4 * seconds + 60).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure_decoders(binaries: dict[str, Path], cpu: int | None, connections: int,
                     millis: int) -> list[dict]:
    """bench_decoders: per format, the heap a partial frame pins and the CPU per small
    packet."""
    command = [binaries["bench_decoders"], "--json", "--connections", str(connections),
               "--millis", str(millis)]
    out = subprocess.run(pinned(cpu, command), check=True, capture_output=True, text=True,
                         timeout=600).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class Haproxy:
    """Debian's `haproxy` in `mode tcp`, one thread, in front of one server: its frontend
    on a free 127.0.0.1 port; with `send_proxy_v2`, a PROXY v2 header on each connection
    to the server. No health checks: the figure is the cost of the hop itself."""

    def __init__(self, server: str, cpu: int | None, send_proxy_v2: bool = False):
        binary = shutil.which("haproxy")
        if binary is None:
            raise SystemExit("the haproxy section needs Debian's haproxy: "
                             "`apt-get install -y haproxy` (tests/run.sh installs it)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.directory = Path(tempfile.mkdtemp(prefix="easynet-bench-haproxy-"))
        config = self.directory / "haproxy.cfg"
        config.write_text(
            "global\n    nbthread 1\n    maxconn 4000\n"
            "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n"
            "    timeout server 30s\n"
            f"frontend front\n    bind 127.0.0.1:{port}\n    default_backend back\n"
            "backend back\n"
            f"    server s0 {server}{' send-proxy-v2' if send_proxy_v2 else ''}\n")
        self.process = subprocess.Popen(pinned(cpu, [binary, "-db", "-f", config]),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addr = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.process.stderr.read()!r}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("haproxy did not listen within 10 s")
                time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.process.stderr.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def measure_hops(addr: str, client: Path, client_args: list, pids: dict[str, int],
                 seconds: float, warmup: float, cpu: int | None) -> dict:
    """One bench_client run against `addr`; the CPU per request of each process of
    `pids` (name: pid) over the measured window, and the client's figures."""
    command = [client, "--addr", addr, "--duration", str(seconds), "--warmup", str(warmup),
               *client_args]
    report, spent = run_client(command, cpu, pids, seconds + warmup + 30,
                               f"client against {addr}")
    requests = max(report["requests"], 1)
    return {
        "per_s": report["requests"] / report["seconds"],
        "p50_us": report["latency_us"]["p50"],
        "p99_us": report["latency_us"]["p99"],
        **{f"{name}_cpu_us": spent[name] * 1e6 / requests for name in pids},
    }


def median_dicts(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def run_haproxy_section(binaries: dict[str, Path], args: argparse.Namespace,
                        server_cpu: int | None, client_cpu: int | None, extra: dict) -> None:
    """Direct vs through HAProxy (CPU per request of each hop, 1 KiB requests on 10
    connections), and the PROXY header's cost per connection (connect, one request,
    close), every kind once per round, the order alternating."""
    scenario = HAPROXY_REQUEST
    requests_args = ["--conns", str(scenario.conns), "--msize", str(scenario.msize),
                     "--mpr", str(scenario.mpr)]
    connection_args = ["--conns", str(HAPROXY_CONNECTIONS), "--msize", str(scenario.msize),
                       "--reconnect"]
    kinds = [("requests", k) for k in HAPROXY_REQUEST_KINDS] + \
            [("connections", k) for k in HAPROXY_CONNECTION_KINDS]
    runs: dict[tuple[str, str], list[dict]] = {k: [] for k in kinds}
    loads = []
    for round_ in range(args.runs):
        loads.append(load_average())
        for table, kind in (kinds if round_ % 2 == 0 else kinds[::-1]):
            header = kind.endswith("proxy-v2")
            server = Server("echo-lines", binaries, None, server_cpu,
                            extra_args=["--proxy-protocol", "127.0.0.1"] if header else None)
            proxy = None
            try:
                pids = {"server": server.pid}
                addr = server.addr
                if kind.startswith("haproxy"):
                    # HAProxy shares the server's core: the client, alone on the other,
                    # is what saturates.
                    proxy = Haproxy(server.addr, server_cpu, send_proxy_v2=header)
                    pids["haproxy"] = proxy.pid
                    addr = proxy.addr
                client_args = requests_args if table == "requests" else connection_args
                if kind == "proxy-v2":
                    client_args = client_args + ["--proxy-v2"]
                run = measure_hops(addr, binaries["bench_client"], client_args, pids,
                                   args.duration, args.warmup, client_cpu)
            finally:
                if proxy:
                    proxy.stop()
                server.stop()
            runs[(table, kind)].append(run)
            log(f"haproxy {table} {kind}: {run['per_s']:,.0f}/s, server "
                f"{run['server_cpu_us']:.2f} µs" + (f", haproxy {run['haproxy_cpu_us']:.2f} µs"
                                                     if "haproxy_cpu_us" in run else ""))
    version = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
    extra["haproxy"] = {
        "command": "python3 examples/bench/run.py " + " ".join(sys.argv[1:]),
        "runs": args.runs, "seconds": args.duration, "warmup": args.warmup,
        # "HAProxy version 2.6.12-1+deb12u3 2025/10/03 - ..." -> "HAProxy 2.6.12-1+deb12u3"
        "version": " ".join(version.split()[0:3:2]) if version else "HAProxy", "loads": loads,
        "requests": {k: median_dicts(runs[("requests", k)]) for k in HAPROXY_REQUEST_KINDS},
        "connections": {k: median_dicts(runs[("connections", k)])
                        for k in HAPROXY_CONNECTION_KINDS},
    }


def measure_udp(server: Server, binary: Path, size: int, seconds: float, warmup: float,
                cpu: int | None) -> dict:
    """One `bench_udp load` run: datagrams/s and the server's CPU per datagram."""
    command = [binary, "load", "--addr", server.addr, "--sockets", str(UDP_SOCKETS),
               "--inflight", str(UDP_INFLIGHT), "--size", str(size),
               "--duration", str(seconds), "--warmup", str(warmup)]
    report, spent = run_client(command, cpu, {"server": server.pid}, seconds + warmup + 30,
                               f"udp client against {server.kind}")
    datagrams = max(report["datagrams"], 1)
    return {
        "per_s": report["datagrams"] / report["seconds"],
        "p50_us": report["latency_us"]["p50"],
        "p99_us": report["latency_us"]["p99"],
        "lost": report["lost"],
        "server_cpu_us": spent["server"] * 1e6 / datagrams,
    }


def run_udp_section(binaries: dict[str, Path], python: Path, args: argparse.Namespace,
                    sizes: list[int], server_cpu: int | None, client_cpu: int | None,
                    extra: dict) -> None:
    """Every UDP server once per round and size, the order alternating."""
    results: dict[str, dict[str, dict]] = {}
    loads = []
    for size in sizes:
        runs: dict[str, list[dict]] = {k: [] for k in UDP_SERVERS}
        for round_ in range(args.runs):
            loads.append(load_average())
            for kind in (UDP_SERVERS if round_ % 2 == 0 else UDP_SERVERS[::-1]):
                server = Server(kind, binaries, python, server_cpu)
                try:
                    run = measure_udp(server, binaries["bench_udp"], size, args.duration,
                                      args.warmup, client_cpu)
                finally:
                    server.stop()
                runs[kind].append(run)
                log(f"udp {size} B {kind}: {run['per_s']:,.0f} datagrams/s, "
                    f"{run['server_cpu_us']:.2f} µs CPU/datagram, {run['lost']} lost")
        results[str(size)] = {k: median_dicts(v) for k, v in runs.items()}
    extra["udp"] = {
        "command": "python3 examples/bench/run.py " + " ".join(sys.argv[1:]),
        "runs": args.runs, "seconds": args.duration, "warmup": args.warmup,
        "sockets": UDP_SOCKETS, "inflight": UDP_INFLIGHT, "sizes": results, "loads": loads,
    }


def new_sections(extra: dict) -> list[str]:
    """The HAProxy and UDP sections, from their own runs' figures."""
    lines: list[str] = []

    def loads_of(section: dict) -> str:
        values = section.get("loads", [])
        if not values:
            return ""
        busy = statistics.median(values) > (os.cpu_count() or 2) + 0.5
        return (f" The 1-minute load average at the start of each round was "
                f"{min(values):.2f} to {max(values):.2f}"
                + (" (other work shared the machine)." if busy else
                   " (the benchmark's own processes make about 2)."))

    hap = extra.get("haproxy")
    if hap:
        lines += ["## Behind HAProxy", "",
                  f"Measured by its own run of the harness ({hap['runs']} alternating rounds "
                  f"of {hap['seconds']:g} s + {hap['warmup']:g} s warm-up; {hap['version']}, "
                  "`mode tcp`, one thread, no health checks, pinned to the server's core; "
                  "the client alone on the other core; medians):", "", "```sh",
                  hap["command"].strip(), "```", "",
                  "**Direct vs through HAProxy**, 1,024-byte requests on 10 connections to "
                  "`echo_server --format lines`: the CPU time per request of each hop."
                  + loads_of(hap), "",
                  "| path | requests/s | p50 µs | p99 µs | `echo_server` CPU µs/request | "
                  "HAProxy CPU µs/request |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for kind, run in hap["requests"].items():
            proxy = run.get("haproxy_cpu_us")
            lines.append(f"| {HAPROXY_LABELS[kind]} | {run['per_s']:,.0f} | {run['p50_us']:.0f} "
                         f"| {run['p99_us']:.0f} | {run['server_cpu_us']:.2f} | "
                         f"{'-' if proxy is None else f'{proxy:.2f}'} |")
        lines += ["", "**The PROXY header per connection**: each request on a new connection "
                  "(connect, one 1,024-byte request, close; `bench_client --reconnect`, 10 at a "
                  "time), `echo_server` without and with `--proxy-protocol`; the header comes "
                  "from the client itself (`--proxy-v2`, 28 bytes) or from HAProxy's "
                  "`send-proxy-v2`.", "",
                  "| path | connections/s | p50 µs | `echo_server` CPU µs/connection | "
                  "HAProxy CPU µs/connection |", "| --- | ---: | ---: | ---: | ---: |"]
        for kind, run in hap["connections"].items():
            proxy = run.get("haproxy_cpu_us")
            lines.append(f"| {HAPROXY_LABELS[kind]} | {run['per_s']:,.0f} | {run['p50_us']:.0f} "
                         f"| {run['server_cpu_us']:.2f} | "
                         f"{'-' if proxy is None else f'{proxy:.2f}'} |")
        conns = hap["connections"]
        if "plain" in conns and "proxy-v2" in conns:
            plain, v2 = conns["plain"]["server_cpu_us"], conns["proxy-v2"]["server_cpu_us"]
            lines += ["", f"The header costs `echo_server` {v2 - plain:+.2f} µs of CPU per "
                      f"connection ({v2 / plain - 1:+.1%}) when the client sends it."]
        lines.append("")
    udp = extra.get("udp")
    if udp:
        lines += ["## UDP echo", "",
                  f"Measured by its own run of the harness ({udp['runs']} alternating rounds "
                  f"of {udp['seconds']:g} s + {udp['warmup']:g} s warm-up; medians):", "",
                  "```sh", udp["command"].strip(), "```", "",
                  f"`bench_udp load`: {udp['sockets']} client sockets (so {udp['sockets']} "
                  f"addresses for the server), each keeping {udp['inflight']} datagrams in "
                  "flight and checking every echo byte for byte; a datagram unanswered for "
                  "200 ms is counted lost. The servers send every datagram back as is; the Rust "
                  "ones run one tokio worker thread, pinned to one core, the client on the other."
                  + loads_of(udp), ""]
        for size, rows in udp["sizes"].items():
            base = rows.get("udp-tokio")
            lines += [f"### {int(size):,} B datagrams", "",
                      "| server | datagrams/s | p50 µs | p99 µs | lost | server CPU µs/datagram "
                      "| vs tokio |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
            for kind, run in rows.items():
                ratio = (f"{run['server_cpu_us'] / base['server_cpu_us']:.2f}x" if base
                         else "-")
                lines.append(f"| {UDP_LABELS[kind]} | {run['per_s']:,.0f} | {run['p50_us']:.0f} "
                             f"| {run['p99_us']:.0f} | {run['lost']:.0f} | "
                             f"{run['server_cpu_us']:.2f} | {ratio} |")
            lines.append("")
    return lines


def load_average() -> float:
    """The machine's 1-minute load average (other work competing for the cores)."""
    return os.getloadavg()[0]


def cpus() -> tuple[int | None, int | None]:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def svg_chart(results: dict, scenarios: list[Scenario], servers: list[str]) -> str:
    """A grouped bar chart of server CPU µs per request, one group per scenario."""
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
              "#e377c2", "#7f7f7f"]
    bar, gap, left, top, height, legend = 14, 44, 60, 30, 320, 340
    groups = [s for s in scenarios if s.name in results]
    width = left + sum(len([k for k in servers if k in results[s.name]]) * bar + gap
                       for s in groups) + legend
    peak = max((r.cpu_us_per_request for s in groups for r in results[s.name].values()),
               default=1.0)
    peak = max(peak, 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 90}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="{left}" y="18" font-size="13">Server CPU time per request (µs, median; '
           'lower is better)</text>']
    for i in range(5):
        value = peak * i / 4
        y = top + height - height * i / 4
        out.append(f'<line x1="{left - 4}" x2="{width - legend + 10}" y1="{y:.0f}" y2="{y:.0f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.0f}" text-anchor="end">{value:.0f}</text>')
    x = left + gap / 2
    for scenario in groups:
        start = x
        for index, kind in enumerate(servers):
            run = results[scenario.name].get(kind)
            if run is None:
                continue
            h = height * run.cpu_us_per_request / peak
            out.append(f'<rect x="{x:.0f}" y="{top + height - h:.0f}" width="{bar - 2}" '
                       f'height="{h:.0f}" fill="{colors[index % len(colors)]}">'
                       f'<title>{escape(LABELS[kind])}: {run.cpu_us_per_request:.1f} µs</title></rect>')
            x += bar
        out.append(f'<text x="{(start + x) / 2:.0f}" y="{top + height + 16}" '
                   f'text-anchor="middle">{scenario.name}</text>')
        x += gap
    for index, kind in enumerate(servers):
        y = top + 14 * index
        out.append(f'<rect x="{width - legend + 20}" y="{y}" width="10" height="10" '
                   f'fill="{colors[index % len(colors)]}"/>')
        out.append(f'<text x="{width - legend + 35}" y="{y + 9}">{escape(LABELS[kind])}</text>')
    out.append(f'<text x="{left}" y="{top + height + 40}">scenario: message bytes x '
               'messages per request x connections</text>')
    out.append("</svg>")
    return "\n".join(out)


def targets(results: dict, memory: dict) -> list[str]:
    """The issue's targets, checked against this run's figures (never typed by hand)."""

    def cpu(scenario: str, kind: str) -> float | None:
        run = results.get(scenario, {}).get(kind)
        return run.cpu_us_per_request if run else None

    rows: list[tuple[str, str, bool | None]] = []

    def vs_raw(scenario: str, limit: float, label: str) -> float | None:
        ours, raw = cpu(scenario, "easynet-loop"), cpu(scenario, "tokio-raw")
        if ours is None or raw is None:
            return None
        rows.append((f"≤ {limit}× raw tokio at {label}", f"{ours / raw:.2f}×", ours / raw <= limit))
        return ours

    vs_raw("1024x1x10", 1.1, "1024×1")
    vs_raw("64x1x100", 1.1, "64×1 (100 connections)")
    ours = vs_raw("1024x5x10", 1.4, "1024×5")
    framed = cpu("1024x5x10", "framed-feed")
    if ours is not None and framed is not None:
        rows.append(("better than `Framed` feed-then-flush at 1024×5",
                     f"{ours:.2f} vs {framed:.2f} µs ({ours / framed - 1:+.1%})", ours < framed))
    vs_raw("65000x1x3", 1.3, "65000×1")
    gaps = {}
    for scenario in ("1024x1x10", "1024x5x10", "64x1x100", "65000x1x3"):
        loop, per_request = cpu(scenario, "easynet-loop"), cpu(scenario, "easynet-per-request")
        if loop and per_request:
            gaps[scenario] = per_request / loop - 1
    if gaps:
        rows.append(("generator per request within 5% of the inner loop",
                     ", ".join(f"{g:+.1%} at {s.rsplit('x', 1)[0].replace('x', '×')}"
                               for s, g in gaps.items()),
                     all(g <= 0.05 for g in gaps.values())))
    for scenario, factor, label in (("1024x5x10", 5, "1024×5"), ("1024x1x10", 2.5, "1024×1")):
        ours, python = cpu(scenario, "easynet-loop"), cpu(scenario, "easynetwork-uvloop")
        if ours and python:
            rows.append((f"≥ {factor}× less CPU than Python easynetwork + uvloop at {label}",
                         f"{python / ours:.1f}×", python / ours >= factor))
    # The ordinary user path: the echo_server example itself, against `Framed` on the same
    # runtime (`#[tokio::main]`, one worker); against the current-thread `Framed` too.
    for scenario, limit, label in (("1024x1x10", 1.05, "1024×1"), ("1024x5x10", 1.0, "1024×5")):
        example, framed = cpu(scenario, "echo-lines"), cpu(scenario, "framed-feed-mt")
        if example and framed:
            rows.append((f"`echo_server --format lines` ≤ {limit}× `Framed` feed-then-flush "
                         f"(same runtime) at {label}", f"{example / framed:.2f}× ({example:.2f} "
                         f"vs {framed:.2f} µs)", example / framed <= limit))
        framed = cpu(scenario, "framed-feed")
        if example and framed:
            rows.append((f"`echo_server --format lines` vs current-thread `Framed` at {label}",
                         f"{example / framed:.2f}×", None))
    for scenario in ("1024x1x10", "1024x5x10", "64x1x100", "65000x1x3", "1024x1x10-tls"):
        example, raw = cpu(scenario, "echo-lines"), cpu(scenario, "tokio-raw")
        if example and raw:
            rows.append((f"`echo_server --format lines` vs raw tokio at {scenario}",
                         f"{example / raw:.2f}×", None))
    for kind, which in (("framed-json-mt", "same runtime"), ("framed-json", "current-thread")):
        example, framed = cpu("1024x1x10-json", "echo-json"), cpu("1024x1x10-json", kind)
        if example and framed:
            rows.append((f"`echo_server --format json` vs `Framed<LinesCodec>` + serde_json "
                         f"({which}) at 1024×1",
                         f"{example / framed:.2f}× ({example:.2f} vs {framed:.2f} µs)", None))
    ours, raw = memory.get("easynet-loop"), memory.get("tokio-raw")
    if ours and raw:
        rows.append(("idle memory per connection ≤ 2× raw tokio's",
                     f"{ours.idle_kib_per_conn:.1f} vs {raw.idle_kib_per_conn:.1f} KiB "
                     f"({ours.idle_kib_per_conn / raw.idle_kib_per_conn:.2f}×)",
                     ours.idle_kib_per_conn <= 2 * raw.idle_kib_per_conn))
    if ours:
        rows.append(("after a 65,000-byte echo, back to ≤ 2× idle",
                     f"{ours.after_large_kib_per_conn:.1f} KiB "
                     f"({ours.after_large_kib_per_conn / ours.idle_kib_per_conn:.2f}× idle)",
                     ours.after_large_kib_per_conn <= 2 * ours.idle_kib_per_conn))
    if not rows:
        return []
    lines = ["## Targets", "",
             "Checked by the harness against the tables above (server CPU per request, "
             "medians, measured side by side in one run; \"easynet\" is the inner-loop "
             "bytes-lines server unless said otherwise).", "",
             "| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {target} | {measured} | "
              f"{'—' if met is None else 'yes' if met else '**no**'} |"
              for target, measured, met in rows]
    missed = [target for target, _, met in rows if met is False]
    if missed:
        lines += ["", f"**Missed in this run** ({len(missed)} of "
                  f"{sum(met is not None for _, _, met in rows)}): " + "; ".join(missed) + "."]
    return lines + [""]


def extra_sections(extra: dict, args: argparse.Namespace) -> list[str]:
    """Broadcast, fairness and decoder sections, from this run's figures."""
    lines: list[str] = []
    broadcast = extra.get("broadcast")
    if broadcast:
        runs = {k: BroadcastRun(**v) for k, v in broadcast["median"].items()}
        lines += ["## Broadcast", "",
                  f"One {broadcast['size']}-byte packet every {broadcast['every_ms']} ms to each "
                  f"of {broadcast['clients']} clients on loopback (`bench_broadcast`), "
                  f"{broadcast['rounds']} alternating rounds of {broadcast['seconds']:g} s; "
                  "the clients check every packet. Server CPU per delivered packet, medians.",
                  "", "| server | packets delivered/s | missed | server CPU µs/packet | "
                  "vs tokio |", "| --- | ---: | ---: | ---: | ---: |"]
        base = runs.get("tokio-broadcast")
        for kind, run in runs.items():
            ratio = f"{run.cpu_us_per_packet / base.cpu_us_per_packet:.2f}x" if base else "-"
            lines.append(f"| {LABELS[kind]} | {run.delivered_per_s:,.0f} | {run.missed:.0f} | "
                         f"{run.cpu_us_per_packet:.2f} | {ratio} |")
        lines.append("")
    fairness = extra.get("fairness")
    if fairness:
        lines += ["## Fairness", "",
                  "A polite client's round trips (`polite\\n`, one at a time) against the "
                  "`echo_server --format lines` example (one worker thread, pinned), on an "
                  f"idle server and while {fairness[0]['floods']} connections pipeline `1\\n` "
                  "as fast as they can (`bench_fairness`), one row per run:", "",
                  "| run | idle p50 | idle p99 | flooded p50 | flooded p99 | flooded max | "
                  "flooded p99 / idle p99 | flood answers meanwhile |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for index, run in enumerate(fairness, 1):
            idle, flooded = run["idle"], run["flooded"]
            lines.append(
                f"| {index} | {idle['p50_us'] / 1e3:.2f} ms | {idle['p99_us'] / 1e3:.2f} ms | "
                f"{flooded['p50_us'] / 1e3:.2f} ms | {flooded['p99_us'] / 1e3:.2f} ms | "
                f"{flooded['max_us'] / 1e3:.2f} ms | "
                f"{flooded['p99_us'] / max(idle['p99_us'], 1e-9):.1f}× | "
                f"{run['flood_answers']:,} |")
        lines.append("")
    decoders = extra.get("decoders")
    if decoders:
        def size(n: float) -> str:
            if n >= 1024 * 1024:
                return f"{n / (1024 * 1024):.2f} MiB"
            return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n:.0f} B"
        lines += ["## Decoders", "",
                  "Per format of `echo_server` (`bench_decoders`): the heap one connection "
                  "pins while its peer has sent part of a frame of a 45 KB packet, and the CPU "
                  "time of one small packet, in µs (best of three runs).", "",
                  "| format | held, first 100 B of a frame | held, all but 1 B | decode tiny µs "
                  "| decode 4-byte bad µs | encode tiny µs |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for row in decoders:
            lines.append(f"| {row['format']} | {size(row['first_100_bytes'])} | "
                         f"{size(row['all_but_1_bytes'])} | {row['decode_tiny_us']:.2f} | "
                         f"{row['decode_bad_us']:.2f} | {row['encode_tiny_us']:.2f} |")
        by_format = {row["format"]: row for row in decoders}
        bz2, zlib = by_format.get("bz2-json"), by_format.get("zlib-json")
        if bz2 and zlib:
            lines += ["", "bz2 against zlib per small packet: "
                      f"decode {bz2['decode_tiny_us'] / zlib['decode_tiny_us']:.1f}×, "
                      f"bad packet {bz2['decode_bad_us'] / zlib['decode_bad_us']:.1f}×, "
                      f"encode {bz2['encode_tiny_us'] / zlib['encode_tiny_us']:.1f}×."]
        lines.append("")
    return lines


def markdown(results: dict, memory: dict, scenarios: list[Scenario], servers: list[str],
             args: argparse.Namespace, command: str, extra: dict) -> str:
    lines = ["# Benchmarks", "",
             "Echo servers measured side by side in one run by `examples/bench/run.py` "
             "(medians of the runs). The figure to compare is the **server's CPU time per "
             "request**: on two cores the single-threaded load generator saturates its own "
             "core before a Rust server does, so requests/s only says \"at least\".", "",
             "Reproduce with:", "", "```sh", command, "```", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
             f"{platform.platform()}, Python {platform.python_version()}; "
             f"{args.runs} runs of {args.duration:g} s (+{args.warmup:g} s warm-up) per server "
             "and scenario; server and client pinned to different cores.", ""]
    loads = [x for values in extra.get("loads", {}).values() for x in values]
    if loads:
        # The benchmark's own server and client make a load of about 2.
        busy = statistics.median(loads) > (os.cpu_count() or 2) + 0.5
        lines += [("The machine was shared with other work (builds) during the run: the "
                   if busy else "Load during the run: the ")
                  + "1-minute load average, sampled at the start of every round, was "
                  f"{min(loads):.2f} to {max(loads):.2f} (median {statistics.median(loads):.2f}) "
                  f"on {os.cpu_count()} cores (the benchmark's own server and client make "
                  "about 2)" + (", so the absolute figures are noisy; the ratios of servers "
                  "measured in the same rounds are what to read." if busy else "."), ""]
    for scenario in scenarios:
        rows = results.get(scenario.name)
        if not rows:
            continue
        base = rows.get("tokio-raw")
        lines += [f"## {scenario.msize} B x {scenario.mpr} messages per request, "
                  f"{scenario.conns} connections" + (" (JSON documents)" if scenario.json else "")
                  + (" over TLS" if scenario.tls else ""),
                  "",
                  "| server | requests/s | MiB/s | p50 µs | p99 µs | server CPU µs/request | vs raw tokio |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for kind in servers:
            run = rows.get(kind)
            if run is None:
                continue
            ratio = f"{run.cpu_us_per_request / base.cpu_us_per_request:.2f}x" if base else "-"
            lines.append(f"| {LABELS[kind]} | {run.requests_per_s:,.0f} | {run.mib_per_s:.1f} | "
                         f"{run.p50_us:.0f} | {run.p99_us:.0f} | {run.cpu_us_per_request:.2f} | "
                         f"{ratio} |")
        lines.append("")
    if memory:
        lines += ["## Memory", "",
                  f"Server RSS growth per connection with {args.memory_conns} idle connections, "
                  "and after each of them echoed one 65,000-byte message.", "",
                  "| server | idle KiB/conn | after a 65,000 B echo KiB/conn |",
                  "| --- | ---: | ---: |"]
        for kind in servers:
            m = memory.get(kind)
            if m:
                lines.append(f"| {LABELS[kind]} | {m.idle_kib_per_conn:.1f} | "
                             f"{m.after_large_kib_per_conn:.1f} |")
        lines.append("")
    lines += ["![server CPU per request](benchmarks.svg)", ""]
    lines += extra_sections(extra, args)
    lines += new_sections(extra)
    lines += targets(results, memory)
    notes = HERE / "notes.md"
    if notes.exists():
        # What the figures mean, targets met or missed and why: kept by hand next to the
        # harness, appended to every generated report.
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def write_from_json(args: argparse.Namespace, path: Path,
                    parser: argparse.ArgumentParser) -> int:
    """Writes BENCHMARKS.md and the chart from saved figures (a --json-out file)."""
    saved = json.loads(path.read_text())
    results = {s: {k: Run(**r) for k, r in rows.items()}
               for s, rows in saved["results"].items()}
    memory = {k: Memory(**m) for k, m in saved["memory"].items()}
    for key, value in saved.get("settings", {}).items():
        setattr(args, key, value)
    command = saved.get("command", "python3 examples/bench/run.py")
    extra = saved.get("extra", {})
    scenarios = [s for s in SCENARIOS if s.name in results]
    servers = [s for s in ALL_SERVERS if any(s in rows for rows in results.values())]
    args.chart.write_text(svg_chart(results, scenarios, servers))
    args.markdown.write_text(markdown(results, memory, scenarios, servers, args, command,
                                      extra))
    log(f"wrote {args.markdown} and {args.chart} from {path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true",
                        help="CI check: every server once, 1 s, first scenario, echoes verified")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    parser.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    parser.add_argument("--memory-conns", type=int, default=10_000)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--broadcast-clients", type=int, default=1000)
    parser.add_argument("--no-broadcast", action="store_true")
    parser.add_argument("--fairness-runs", type=int, default=3)
    parser.add_argument("--fairness-samples", type=int, default=2000)
    parser.add_argument("--decoder-connections", type=int, default=100)
    parser.add_argument("--decoder-millis", type=int, default=200)
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--chart", type=Path, default=ROOT / "benchmarks.svg")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--from-json", type=Path,
                        help="write the report from a --json-out file instead of measuring")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="what to measure: tcp (the echo scenarios, memory, broadcast, "
                        "fairness, decoders), haproxy, udp. Without tcp, the other sections' "
                        "figures are merged into --results (default examples/bench/"
                        "results.json) and the report is written from it")
    parser.add_argument("--results", type=Path, default=HERE / "results.json",
                        help="the saved figures that a run without the tcp section merges into")
    args = parser.parse_args()
    sections = [s for s in args.sections.split(",") if s]
    if set(sections) - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(set(sections) - set(SECTIONS)))}")
    if args.smoke:
        sections = SECTIONS
    if "haproxy" in sections and shutil.which("haproxy") is None:
        parser.error("the haproxy section needs Debian's haproxy on the PATH: "
                     "`apt-get install -y haproxy` (tests/run.sh installs it)")

    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(ALL_SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    wanted = set(args.scenarios.split(","))
    scenarios = [s for s in SCENARIOS if s.name in wanted]
    udp_sizes = UDP_SIZES
    if args.smoke:
        args.runs, args.duration, args.warmup = 1, 1.0, 0.2
        udp_sizes = [64]
        scenarios = [SCENARIOS[0], SCENARIOS[-2], SCENARIOS[-1]]
        args.no_memory = True
        args.broadcast_clients, args.fairness_runs, args.fairness_samples = 100, 1, 200
        args.decoder_connections, args.decoder_millis = 5, 5

    if args.from_json:
        return write_from_json(args, args.from_json, parser)

    binaries = build()
    client_binary = binaries["bench_client"]
    python = (python_venv() if "udp" in sections or any(s in PYTHON_SERVERS for s in servers)
              else None)
    server_cpu, client_cpu = cpus()

    if "tcp" not in sections:
        # Only the chosen sections: measured, then merged into the saved figures of the
        # last full run, whose other sections are kept as they were.
        saved = json.loads(args.results.read_text())
        extra = saved.setdefault("extra", {})
        if "haproxy" in sections:
            run_haproxy_section(binaries, args, server_cpu, client_cpu, extra)
        if "udp" in sections:
            run_udp_section(binaries, python, args, udp_sizes, server_cpu, client_cpu, extra)
        args.results.write_text(json.dumps(saved, indent=2) + "\n")
        log(f"merged {', '.join(sections)} into {args.results}")
        return write_from_json(args, args.results, parser)

    certificates = None
    if any(s.tls for s in scenarios):
        certificates = make_certificate(Path(tempfile.mkdtemp(prefix="easynet-bench-")))

    results: dict[str, dict[str, Run]] = {}
    extra: dict = {"loads": {}}
    for scenario in scenarios:
        kinds = scenario.servers(servers)
        runs: dict[str, list[Run]] = {k: [] for k in kinds}
        for round_ in range(args.runs):
            extra["loads"].setdefault(scenario.name, []).append(load_average())
            # Alternate the order so no server always runs first.
            order = kinds if round_ % 2 == 0 else list(reversed(kinds))
            for kind in order:
                tls = certificates if scenario.tls else None
                server = Server(kind, binaries, python, server_cpu, tls)
                try:
                    run = measure(server, client_binary, scenario, args.duration,
                                  args.warmup, client_cpu, tls[0] if tls else None)
                finally:
                    server.stop()
                runs[kind].append(run)
                log(f"{scenario.name} {kind}: {run.requests_per_s:,.0f} req/s, "
                    f"{run.cpu_us_per_request:.2f} µs CPU/req")
        results[scenario.name] = {k: median_run(v) for k, v in runs.items() if v}

    memory: dict[str, Memory] = {}
    if not args.no_memory:
        for kind in servers:
            if kind in JSON_ONLY:
                continue
            server = Server(kind, binaries, python, server_cpu)
            try:
                memory[kind] = measure_memory(server, client_binary, args.memory_conns,
                                              client_cpu)
            finally:
                server.stop()
            log(f"memory {kind}: {memory[kind]}")

    if not args.no_broadcast:
        runs_b: dict[str, list[BroadcastRun]] = {k: [] for k in BROADCAST_SERVERS}
        for round_ in range(args.runs):
            extra["loads"].setdefault("broadcast", []).append(load_average())
            order = BROADCAST_SERVERS if round_ % 2 == 0 else BROADCAST_SERVERS[::-1]
            for kind in order:
                server = Server(kind, binaries, None, server_cpu)
                try:
                    run_b = measure_broadcast(server, binaries["bench_broadcast"],
                                              args.broadcast_clients, args.duration,
                                              args.warmup, client_cpu)
                finally:
                    server.stop()
                runs_b[kind].append(run_b)
                log(f"broadcast {kind}: {run_b.delivered_per_s:,.0f} packets/s, "
                    f"{run_b.cpu_us_per_packet:.2f} µs CPU/packet, {run_b.missed:.0f} missed")
        extra["broadcast"] = {
            "clients": args.broadcast_clients, "every_ms": BROADCAST_EVERY_MS, "size": 1024,
            "rounds": args.runs, "seconds": args.duration,
            "median": {k: vars(median_broadcast(v)) for k, v in runs_b.items()},
        }
    if args.fairness_runs > 0:
        extra["fairness"] = []
        for _ in range(args.fairness_runs):
            extra["loads"].setdefault("fairness", []).append(load_average())
            run_f = measure_fairness(binaries, server_cpu, client_cpu, args.fairness_samples,
                                     10)
            extra["fairness"].append(run_f)
            log(f"fairness: idle p99 {run_f['idle']['p99_us']:.0f} µs, "
                f"flooded p99 {run_f['flooded']['p99_us']:.0f} µs")
    if args.decoder_connections > 0:
        extra["loads"]["decoders"] = [load_average()]
        extra["decoders"] = measure_decoders(binaries, server_cpu, args.decoder_connections,
                                             args.decoder_millis)
        log(f"decoders: {len(extra['decoders'])} formats measured")

    if "haproxy" in sections:
        run_haproxy_section(binaries, args, server_cpu, client_cpu, extra)
    if "udp" in sections:
        run_udp_section(binaries, python, args, udp_sizes, server_cpu, client_cpu, extra)

    if args.smoke:
        log(f"smoke run passed: {len(servers)} servers, every echo verified byte for byte")
        return 0
    command = "python3 examples/bench/run.py " + " ".join(sys.argv[1:])
    args.chart.write_text(svg_chart(results, scenarios, servers))
    args.markdown.write_text(markdown(results, memory, scenarios, servers, args, command.strip(),
                                      extra))
    if args.json_out:
        args.json_out.write_text(json.dumps(
            {"results": {s: {k: vars(r) for k, r in rows.items()} for s, rows in results.items()},
             "memory": {k: vars(m) for k, m in memory.items()},
             "settings": {"runs": args.runs, "duration": args.duration, "warmup": args.warmup,
                          "memory_conns": args.memory_conns},
             "extra": extra,
             "command": command.strip()}, indent=2))
    log(f"wrote {args.markdown} and {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
