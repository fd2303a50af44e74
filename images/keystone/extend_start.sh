# Sourced by kolla_start (as keystone).
# KOLLA_UPGRADE: migrate the database and exit.
# KOLLA_BOOTSTRAP: migrate the database, then create (or update: it is idempotent) the admin user,
# project and role, the RegionOne-style region and the identity endpoints, and exit. The admin
# password comes from KEYSTONE_BOOTSTRAP_PASSWORD_FILE (default /etc/keystone/admin-password, a 0600
# file put in place by config.json); it is passed to keystone-manage in that one process's
# environment, never on a command line. The other settings are keystone-manage's own non-secret
# variables, set on the bootstrap container: OS_BOOTSTRAP_USERNAME, OS_BOOTSTRAP_PROJECT_NAME,
# OS_BOOTSTRAP_ROLE_NAME, OS_BOOTSTRAP_SERVICE_NAME, OS_BOOTSTRAP_REGION_ID,
# OS_BOOTSTRAP_ADMIN_URL, OS_BOOTSTRAP_INTERNAL_URL, OS_BOOTSTRAP_PUBLIC_URL.
if [ -n "${KOLLA_BOOTSTRAP:-}" ] || [ -n "${KOLLA_UPGRADE:-}" ]; then
  keystone-manage db_sync
  if [ -n "${KOLLA_BOOTSTRAP:-}" ]; then
    password_file=${KEYSTONE_BOOTSTRAP_PASSWORD_FILE:-/etc/keystone/admin-password}
    [ -r "$password_file" ] || { echo "kolla_extend_start: cannot read $password_file" >&2; exit 1; }
    OS_BOOTSTRAP_PASSWORD=$(cat "$password_file") keystone-manage bootstrap
  fi
  exit 0
fi
