#!/usr/bin/env bash
# Runs every test of the workspace, after setting up what the tests need:
# - a Python venv with easynetwork==1.2.0 for the interop tests (tests/.venv);
# - the example binaries (echo_server, echo_client) that the CLI and interop tests run;
# - for the benchmark smoke run, the release harness and target/bench-venv (easynetwork
#   1.2.0 and uvloop);
# - Debian's haproxy and redis-server, which the balancer and cluster tests and the
#   benchmark smoke run's haproxy section run (each starts its own processes, with their
#   own config and loopback port, and stops them at its end: nothing is left running).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if ! command -v haproxy >/dev/null || ! command -v redis-server >/dev/null; then
    echo "installing haproxy and redis-server (the balancer and cluster tests run them)"
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: haproxy and redis-server are missing and installing them needs root:" >&2
        echo "       apt-get install -y haproxy redis-server" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || { echo "error: apt-get update failed" >&2; exit 1; }
    apt-get install -y -q haproxy redis-server || {
        echo "error: cannot install haproxy and redis-server with apt-get" >&2
        exit 1
    }
fi
# The packages' own services are not what the tests use; they may run or not.
haproxy -v | sed -n 1p
redis-server --version

venv="$root/tests/.venv"
# easynetwork with its cbor and msgpack extras (the CBOR and MessagePack interop tests).
if ! "$venv/bin/python" -c 'import easynetwork, cbor2, msgpack, sys; sys.exit(easynetwork.__version__ != "1.2.0")' 2>/dev/null; then
    echo "setting up the Python interop environment in $venv"
    python3 -m venv --clear "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
export EASYNET_PYTHON="$venv/bin/python"

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build -p easynet-examples --examples
export EASYNET_EXAMPLES_DIR="$target_dir/debug/examples"

# The benchmark harness builds, and a 1-second run of each of its servers completes with
# every echo checked byte for byte (the figures come from full runs: BENCHMARKS.md).
python3 examples/bench/run.py --smoke

cargo test --workspace --all-targets
cargo test --workspace --doc
