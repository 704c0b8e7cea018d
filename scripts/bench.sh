#!/usr/bin/env bash
# HTTP load benchmark in one command: builds release binaries, spawns `rushes serve` on a
# random loopback port with a temporary data dir, and runs rushes-bench against it.
# Extra arguments go to rushes-bench, e.g. `scripts/bench.sh --segments 100000`.
# The Markdown report goes to stdout; record results in docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -p rushes -p rushes-bench
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/rushes-bench" --spawn "$target_dir/release/rushes" "$@"
