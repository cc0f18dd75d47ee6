#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster on loopback, then removes the cluster.
# Like scripts/with-postgres, but the command may also stop and start the server: it sees
#   CALDICOTT_BENCH_POSTGRES_URL  the server URL (postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres)
#   CALDICOTT_BENCH_PG_CTL        a script: `stop` (pg_ctl stop -m fast) or `start` (pg_ctl start -w)
#   CALDICOTT_BENCH_PG_VERSION    the server's version
# and CALDICOTT_TEST_POSTGRES_URL, so pytest can run under it too. The settings favour a
# benchmark on a laptop-sized machine (no fsync, larger buffers); both the service and
# the baseline run against the same cluster, so ratios between them stay fair.
set -euo pipefail

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ ! -x "$bindir/initdb" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
if [ ! -x "${bindir:-}/initdb" ]; then
  echo "bench/pg.sh: PostgreSQL server binaries not found (install postgresql)" >&2
  exit 1
fi

workdir=$(mktemp -d -t caldicott-bench-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
owner=""
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$workdir"
  owner="runuser -u postgres --"
fi
options="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$workdir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min"

cat >"$workdir/ctl" <<CTL
#!/usr/bin/env bash
set -euo pipefail
case "\${1:-}" in
  stop) $owner "$bindir/pg_ctl" -D "$workdir/data" -m fast -w -t 60 stop >/dev/null ;;
  start) $owner "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 -o "$options" start >/dev/null ;;
  *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
CTL
chmod 755 "$workdir/ctl"

stop() {
  $owner "$bindir/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap stop EXIT

$owner "$bindir/initdb" -D "$workdir/data" -U postgres -A trust --no-sync >/dev/null
"$workdir/ctl" start
version=$("$bindir/postgres" --version | awk '{print $3}')
echo "bench/pg.sh: PostgreSQL $version on 127.0.0.1:$port"

export CALDICOTT_BENCH_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
export CALDICOTT_TEST_POSTGRES_URL="$CALDICOTT_BENCH_POSTGRES_URL"
export CALDICOTT_BENCH_PG_CTL="$workdir/ctl"
export CALDICOTT_BENCH_PG_VERSION="$version"
"$@"
