# Sourced by kolla_start (as nova) in every nova-* image.
# KOLLA_BOOTSTRAP / KOLLA_UPGRADE: the cells v2 layout and the schemas, idempotently, then exit:
#   the API database, cell0 and cell1 (created once: list_cells says whether it exists) with URL
#   templates filled from nova.conf, then the cell databases.
# NOVA_DISCOVER_HOSTS="host1 host2": map compute hosts into their cell, waiting (up to
#   NOVA_DISCOVER_TIMEOUT seconds, default 180) until every named host has registered, then exit.
if [ -n "${KOLLA_BOOTSTRAP:-}" ] || [ -n "${KOLLA_UPGRADE:-}" ]; then
  set -e
  nova-manage api_db sync
  nova-manage cell_v2 map_cell0
  if ! nova-manage cell_v2 list_cells | grep -q ' cell1 '; then
    nova-manage cell_v2 create_cell --name cell1
  fi
  # The cell mappings keep URL templates that each service fills from its own nova.conf, so a
  # rotated database or RabbitMQ password reaches them with the services' restart instead of
  # staying behind, stale, in the API database.
  db='{scheme}://{username}:{password}@{hostname}:{port}/{path}'
  nova-manage cell_v2 update_cell --cell_uuid 00000000-0000-0000-0000-000000000000 \
    --database_connection "${db}_cell0" --transport-url none:///
  cell1=$(nova-manage cell_v2 list_cells | awk -F'|' '$2 ~ / cell1 / { gsub(/ /, "", $3); print $3 }')
  nova-manage cell_v2 update_cell --cell_uuid "$cell1" --database_connection "$db" \
    --transport-url '{scheme}://{username}:{password}@{hostname}:{port}/{path}'
  nova-manage db sync
  if [ -n "${KOLLA_UPGRADE:-}" ]; then
    nova-manage db online_data_migrations
  fi
  exit 0
fi

if [ -n "${NOVA_DISCOVER_HOSTS+set}" ]; then
  deadline=$(( $(date +%s) + ${NOVA_DISCOVER_TIMEOUT:-180} ))
  while :; do
    nova-manage cell_v2 discover_hosts --by-service
    hosts=$(nova-manage cell_v2 list_hosts | awk -F'|' 'NF > 3 { gsub(/ /, "", $4); print $4 }')
    missing=''
    for h in $NOVA_DISCOVER_HOSTS; do
      printf '%s\n' "$hosts" | grep -qxF "$h" || missing="$missing $h"
    done
    [ -z "$missing" ] && { echo "kolla_extend_start: compute hosts mapped:${NOVA_DISCOVER_HOSTS:+ $NOVA_DISCOVER_HOSTS}" >&2; exit 0; }
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "kolla_extend_start: compute hosts not registered in time:$missing" >&2
      exit 1
    fi
    sleep 3
  done
fi
