# Sourced by .ci/run: a throwaway PostgreSQL primary and a streaming replica of it
# (pg_basebackup -R), each in a temporary directory listening only on a Unix socket there,
# run as the `postgres` user when CI runs as root (PostgreSQL refuses root). Exports
# LODESTONE_TEST_PG and LODESTONE_TEST_PG_REPLICA for the tests (tests/support/pg.rs) and
# stops both servers when the calling script exits.

pg_bin=""
for dir in $(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)") \
           $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/pg_basebackup" ]; then
    pg_bin="$dir"; break
  fi
done
if [ -z "$pg_bin" ]; then
  echo "== installing PostgreSQL (the PostgreSQL tests need initdb, pg_ctl, pg_basebackup)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -rV | head -n 1)"
fi

pg_root="$(mktemp -d /tmp/lodestone-ci-pg.XXXXXX)"
chmod 755 "$pg_root"
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$pg_root"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

pg_stop() {
  for node in replica primary; do
    [ -d "$pg_root/$node" ] && as_pg "$pg_bin/pg_ctl" -D "$pg_root/$node" -m fast -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$pg_root"
}
# .ci/run keeps a list of exit hooks (its own trap reports the stage times); alone, trap EXIT.
if declare -p ci_exit_hooks >/dev/null 2>&1; then ci_exit_hooks+=(pg_stop); else trap pg_stop EXIT; fi

pg_opts() {
  echo "-c listen_addresses='' -c unix_socket_directories='$pg_root/$1.sock' -c max_connections=300 -c wal_level=replica -c max_wal_senders=10 -c hot_standby=on -c hot_standby_feedback=on"
}

as_pg mkdir -p "$pg_root/primary.sock" "$pg_root/replica.sock"
as_pg "$pg_bin/initdb" -D "$pg_root/primary" -A trust -U postgres -E UTF8 >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_root/primary" -l "$pg_root/primary.log" -o "$(pg_opts primary)" -w start >/dev/null
as_pg "$pg_bin/pg_basebackup" -d "host=$pg_root/primary.sock user=postgres" -D "$pg_root/replica" -R -X stream -c fast
as_pg "$pg_bin/pg_ctl" -D "$pg_root/replica" -l "$pg_root/replica.log" -o "$(pg_opts replica)" -w start >/dev/null

export LODESTONE_TEST_PG="postgres:///postgres?host=$pg_root/primary.sock&user=postgres"
export LODESTONE_TEST_PG_REPLICA="postgres:///postgres?host=$pg_root/replica.sock&user=postgres"
echo "== PostgreSQL primary and streaming replica under $pg_root ($pg_bin)"
