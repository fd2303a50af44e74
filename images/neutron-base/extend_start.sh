# Sourced by kolla_start (as neutron) in every neutron-* image.
# KOLLA_BOOTSTRAP / KOLLA_UPGRADE: migrate the schema (core and ML2), idempotently, then exit.
if [ -n "${KOLLA_BOOTSTRAP:-}" ] || [ -n "${KOLLA_UPGRADE:-}" ]; then
  set -e
  neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head
  exit 0
fi
