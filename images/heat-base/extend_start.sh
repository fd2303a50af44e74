# Sourced by kolla_start (as heat) in every heat-* image.
# KOLLA_BOOTSTRAP / KOLLA_UPGRADE: migrate the database (idempotent) and exit.
if [ -n "${KOLLA_BOOTSTRAP:-}" ] || [ -n "${KOLLA_UPGRADE:-}" ]; then
  heat-manage db_sync
  exit 0
fi
