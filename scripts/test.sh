#!/usr/bin/env bash
# The whole test suite in one command, on a fresh Debian machine or a developer's:
#   1. installs what the tests need (ffmpeg, a Python venv for the differential tests,
#      PostgreSQL, SeaweedFS as the S3-compatible server, Chromium and the browser tests'
#      npm packages), touching apt, pip and npm only when something is missing or changed,
#      and starts PostgreSQL and SeaweedFS on loopback;
#   2. checks formatting (cargo fmt) and lints (cargo clippy -D warnings);
#   3. runs every test (cargo nextest, or cargo test without it) and the doc tests, then
#      the API suite a second time with the store on PostgreSQL + S3.
# Every step runs even if an earlier one failed; the exit status is non-zero if any failed.
# CI runs exactly this script (.ci/run).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT="$(pwd)"
export DEBIAN_FRONTEND=noninteractive
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
if [ "${CI:-}" = "true" ]; then
  export CARGO_TERM_COLOR=never
fi

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# --- 1. Dependencies -----------------------------------------------------------------------
step "dependencies"
command -v cargo >/dev/null || die "cargo not found (install the Rust toolchain with rustup)"

apt_missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_missing+=(ffmpeg)
if command -v python3 >/dev/null; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_missing+=(python3-venv)
else
  apt_missing+=(python3 python3-venv)
fi
# The browser tests (crates/rushes/tests/browser.rs): Debian's Chromium, Node.js and npm.
[ -x /usr/bin/chromium ] || apt_missing+=(chromium)
command -v node >/dev/null && command -v npm >/dev/null || apt_missing+=(nodejs npm)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  echo "installing with apt: ${apt_missing[*]}"
  as_root apt-get update -qq || die "apt-get update failed"
  as_root apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null \
    || die "apt-get install ${apt_missing[*]} failed"
fi
echo "ffmpeg: $(ffmpeg -hide_banner -version | head -n1)"

# The browser tests' npm packages (playwright-core, hls.js), installed again only when
# their lock file changes.
BROWSER_DIR="$ROOT/crates/rushes/tests/browser"
if [ -f "$BROWSER_DIR/package-lock.json" ]; then
  want="$(sha256sum "$BROWSER_DIR/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$BROWSER_DIR/node_modules/.lock.sha256" 2>/dev/null)" != "$want" ]; then
    echo "installing the browser tests' npm packages"
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
      || die "npm ci in $BROWSER_DIR failed"
    echo "$want" >"$BROWSER_DIR/node_modules/.lock.sha256"
  fi
fi

cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing (rustup component add rustfmt)"
cargo clippy --version >/dev/null 2>&1 || die "clippy missing (rustup component add clippy)"

# Python tools for tests (e.g. the differential test against the reference timestamp
# library). The venv is rebuilt only when the requirements file changes.
REQS="$ROOT/tools/python-requirements.txt"
VENV="$ROOT/.venv"
if [ -f "$REQS" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || die "python3 -m venv failed"
  fi
  want="$(sha256sum "$REQS" | cut -d' ' -f1)"
  if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "installing Python requirements into .venv"
    "$VENV/bin/pip" install --quiet -r "$REQS" || die "pip install -r $REQS failed"
    echo "$want" >"$VENV/.requirements.sha256"
  fi
else
  echo "no tools/python-requirements.txt: no Python venv needed"
fi
if [ -x "$VENV/bin/python" ]; then
  export RUSHES_PYTHON="$VENV/bin/python"
  echo "RUSHES_PYTHON=$RUSHES_PYTHON"
fi

# Servers for the tests on the distributed engines: PostgreSQL and an S3-compatible object
# store (SeaweedFS), on loopback, in temporary directories, stopped when this script exits.
engines_stop() {
  declare -F s3_server_stop >/dev/null && s3_server_stop
  declare -F pg_server_stop >/dev/null && pg_server_stop
}
trap engines_stop EXIT
step "PostgreSQL and S3-compatible servers"
# shellcheck source=scripts/pg-server.sh
source "$ROOT/scripts/pg-server.sh" || die "cannot start PostgreSQL"
# shellcheck source=scripts/s3-server.sh
source "$ROOT/scripts/s3-server.sh" || die "cannot start the S3-compatible server"

# --- 2. Format and lints ---------------------------------------------------------------------
failed=()

step "cargo fmt --check"
cargo fmt --all --check || failed+=("cargo fmt --check")

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || failed+=("cargo clippy")

# --- 3. Tests ---------------------------------------------------------------------------------
# Doc tests first, so that the test runner's summary of the whole suite is the last one printed.
step "cargo test --doc --workspace"
cargo test --doc --workspace || failed+=("cargo test --doc")

if cargo nextest --version >/dev/null 2>&1; then
  profile=default
  [ "${CI:-}" = "true" ] && profile=ci
  step "cargo nextest run --workspace --no-fail-fast --profile $profile"
  cargo nextest run --workspace --no-fail-fast --profile "$profile" || failed+=("cargo nextest")
  # The API suite again, with the store on PostgreSQL and S3 (each test server gets a
  # database and a bucket prefix of its own).
  step "cargo nextest run -p rushes --test api, on PostgreSQL + S3"
  RUSHES_SUITE_DATABASE_URL="$RUSHES_TEST_PG_URL" RUSHES_SUITE_OBJECT_STORE_URL="$RUSHES_TEST_S3_URL" \
    cargo nextest run -p rushes --test api --no-fail-fast --profile "$profile" \
    || failed+=("cargo nextest (PostgreSQL + S3)")
else
  step "cargo test --workspace --no-fail-fast (cargo-nextest not installed)"
  cargo test --workspace --no-fail-fast --lib --bins --tests || failed+=("cargo test")
  RUSHES_SUITE_DATABASE_URL="$RUSHES_TEST_PG_URL" RUSHES_SUITE_OBJECT_STORE_URL="$RUSHES_TEST_S3_URL" \
    cargo test -p rushes --test api --no-fail-fast || failed+=("cargo test (PostgreSQL + S3)")
fi

echo
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all checks passed"
