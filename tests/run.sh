#!/usr/bin/env bash
# Runs every test of the workspace, after setting up what the tests need:
# - a Python venv with easynetwork==1.2.0 for the interop tests (tests/.venv);
# - the example binaries (echo_server, echo_client) that the CLI and interop tests run;
# - for the benchmark smoke run, the release harness and target/bench-venv (easynetwork
#   1.2.0 and uvloop).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

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
