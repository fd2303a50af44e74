# Sourced by kolla_start (as mysql). An empty data directory is initialized before the server starts.
# root@localhost and mysql@localhost authenticate by unix socket only; TCP accounts come from SQL.
# A Galera node first decides how it starts (galera-start), while the data directory says whether
# it ever had data.
if [ -z "${KOLLA_BOOTSTRAP:-}" ] && grep -q '^wsrep_on = ON' /etc/mysql/mariadb.conf.d/99-berth.cnf 2>/dev/null; then
  # shellcheck disable=SC1091
  . /usr/local/bin/galera-start
fi
if [ ! -d /var/lib/mysql/mysql ]; then
  echo "kolla_extend_start: initializing an empty data directory" >&2
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=socket \
    --skip-test-db >/dev/null
fi
# KOLLA_BOOTSTRAP: run the SQL in BOOTSTRAP_SQL (default /etc/mysql/bootstrap.sql, a 0600 file put in
# place by config.json; it creates the TCP root account with the database password) against a
# temporary server that listens on the socket only, then shut it down and exit. Idempotent when the
# SQL is (CREATE ... IF NOT EXISTS, ALTER USER), so re-running it rotates the password.
if [ -n "${KOLLA_BOOTSTRAP:-}" ]; then
  bootstrap_sql=${BOOTSTRAP_SQL:-/etc/mysql/bootstrap.sql}
  if [ -f "$bootstrap_sql" ]; then
    mariadbd --skip-networking --skip-slave-start &
    bootstrap_pid=$!
    i=0
    until mariadb-admin --protocol=socket ping >/dev/null 2>&1; do
      i=$((i + 1))
      if [ "$i" -gt 120 ] || ! kill -0 "$bootstrap_pid" 2>/dev/null; then
        echo "kolla_extend_start: temporary mariadbd did not start" >&2
        kill "$bootstrap_pid" 2>/dev/null || true
        exit 1
      fi
      sleep 0.5
    done
    bootstrap_rc=0
    mariadb --protocol=socket <"$bootstrap_sql" || bootstrap_rc=$?
    mariadb-admin --protocol=socket shutdown
    wait "$bootstrap_pid" || true
    [ "$bootstrap_rc" -eq 0 ] || { echo "kolla_extend_start: $bootstrap_sql failed" >&2; exit "$bootstrap_rc"; }
    echo "kolla_extend_start: bootstrap SQL applied" >&2
  fi
  exit 0
fi
