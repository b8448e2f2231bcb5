#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on a loopback port, export its URL as
# VALET_TEST_PG, run the given command, then stop the server and delete its data.
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
# user. The server binaries come from the system's PostgreSQL package; if they are
# missing and we are root, the package is installed.
set -euo pipefail

find_pg_bin() {
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
}

PG_BIN=$(find_pg_bin || true)
if [ -z "${PG_BIN:-}" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "with-postgres: installing PostgreSQL" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
        PG_BIN=$(find_pg_bin)
    else
        echo "with-postgres: PostgreSQL server binaries not found (install the postgresql package)" >&2
        exit 1
    fi
fi

PORT=${VALET_PG_PORT:-$((20000 + RANDOM % 20000))}
WORK=$(mktemp -d /tmp/valet-pg.XXXXXX)
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$WORK"
    RUN_AS=(runuser -u postgres --)
fi

stop_pg() {
    "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap stop_pg EXIT

"${RUN_AS[@]}" "$PG_BIN/initdb" -D "$WORK/data" -U postgres -A trust --no-sync >"$WORK/initdb.log" 2>&1 \
    || { cat "$WORK/initdb.log" >&2; exit 1; }
"${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 60 \
    -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

export VALET_TEST_PG="postgresql://postgres@127.0.0.1:$PORT/postgres"
echo "with-postgres: PostgreSQL running at $VALET_TEST_PG" >&2
"$@"
