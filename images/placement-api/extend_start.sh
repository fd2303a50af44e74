# Sourced by kolla_start (as placement).
# KOLLA_BOOTSTRAP / KOLLA_UPGRADE: migrate the database (idempotent) and exit.
if [ -n "${KOLLA_BOOTSTRAP:-}" ] || [ -n "${KOLLA_UPGRADE:-}" ]; then
  placement-manage db sync
  exit 0
fi
