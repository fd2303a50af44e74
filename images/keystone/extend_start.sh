# Sourced by kolla_start. KOLLA_BOOTSTRAP: migrate the database and exit.
if [ -n "${KOLLA_BOOTSTRAP:-}" ] || [ -n "${KOLLA_UPGRADE:-}" ]; then
  keystone-manage db_sync
  exit 0
fi
