# Sourced by kolla_start (as glance).
# KOLLA_BOOTSTRAP / KOLLA_UPGRADE: migrate the database (idempotent) and exit.
if [ -n "${KOLLA_BOOTSTRAP:-}" ] || [ -n "${KOLLA_UPGRADE:-}" ]; then
  glance-manage db_sync
  exit 0
fi
