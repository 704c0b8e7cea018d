# A PostgreSQL server on loopback for the tests that run the store on PostgreSQL.
#
# Source this file from bash (it is not run on its own):
#
#   source scripts/pg-server.sh      # installs if needed, starts, exports; non-zero on failure
#   trap pg_server_stop EXIT         # or call pg_server_stop from the caller's own EXIT trap
#
# What it does:
#   1. installs Debian's postgresql package if no PostgreSQL server binaries are present;
#   2. creates a cluster in a fresh temporary directory (initdb; as the `postgres` user when
#      run as root, since the server refuses to run as root), C collation, UTF-8;
#   3. starts it on 127.0.0.1 only, on a free port, with its socket in that directory;
#   4. exports RUSHES_TEST_PG_URL (postgres://rushes@127.0.0.1:PORT/postgres: a superuser
#      that may create databases, no password) and RUSHES_TEST_PG_BIN (the directory of
#      initdb, pg_ctl and postgres, for tests that run servers of their own).
#
# pg_server_stop stops the server and removes its directory; calling it twice is harmless.

pg_server_stop() {
  if [ -n "${_PG_SERVER_DIR:-}" ] && [ -d "$_PG_SERVER_DIR" ]; then
    _pg_as_owner "$RUSHES_TEST_PG_BIN/pg_ctl" -D "$_PG_SERVER_DIR/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$_PG_SERVER_DIR"
  fi
  _PG_SERVER_DIR=""
}

_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_pg_server_start() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "installing PostgreSQL with apt"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    else
      sudo -n apt-get update -qq && sudo -n apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    fi || { echo "pg-server.sh: apt-get install postgresql failed" >&2; return 1; }
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  fi
  [ -x "$bin/initdb" ] || { echo "pg-server.sh: no initdb found" >&2; return 1; }
  export RUSHES_TEST_PG_BIN="$bin"

  _PG_SERVER_DIR="$(mktemp -d /tmp/rushes-pg.XXXXXX)" || return 1
  chmod 755 "$_PG_SERVER_DIR"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "pg-server.sh: no postgres user" >&2; return 1; }
    chown postgres "$_PG_SERVER_DIR"
  fi
  _pg_as_owner "$bin/initdb" -D "$_PG_SERVER_DIR/data" -U rushes -A trust \
    --locale=C.UTF-8 -E UTF8 >"$_PG_SERVER_DIR/initdb.log" 2>&1 \
    || { echo "pg-server.sh: initdb failed:" >&2; cat "$_PG_SERVER_DIR/initdb.log" >&2; return 1; }

  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  _pg_as_owner "$bin/pg_ctl" -D "$_PG_SERVER_DIR/data" -w -t 60 -l "$_PG_SERVER_DIR/server.log" \
    -o "-p $port -k $_PG_SERVER_DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB" \
    start >/dev/null \
    || { echo "pg-server.sh: the server did not start:" >&2; cat "$_PG_SERVER_DIR/server.log" >&2; return 1; }
  export RUSHES_TEST_PG_URL="postgres://rushes@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (RUSHES_TEST_PG_URL)"
}

_pg_server_start
