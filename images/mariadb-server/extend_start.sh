# Sourced by kolla_start. An empty data directory is initialized before the server starts.
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=socket \
    --skip-test-db >/dev/null
fi
if [ -n "${KOLLA_BOOTSTRAP:-}" ]; then
  exit 0
fi
