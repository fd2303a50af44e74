#!/bin/sh
# Make this machine a berth build/deploy host: Docker Engine and mmdebstrap from Debian's
# packages, and a running dockerd (started directly when there is no systemd).
# Idempotent: each step is skipped when its result is already there.
set -eu

log() { printf 'host-setup: %s\n' "$*"; }

missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v mmdebstrap >/dev/null 2>&1 || missing="$missing mmdebstrap"
command -v jq >/dev/null 2>&1 || missing="$missing jq"
if [ -n "$missing" ]; then
  log "installing$missing from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing ca-certificates >/dev/null
fi

docker_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! docker_answers; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    log "starting docker.service"
    systemctl start docker
  else
    log "starting dockerd (no systemd; log in /var/log/dockerd.log)"
    # setsid: the daemon must outlive the shell that started it.
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  fi
  i=0
  until docker_answers; do
    i=$((i + 1))
    if [ "$i" -gt 60 ]; then
      log "dockerd did not answer within 60s; see /var/log/dockerd.log" >&2
      exit 1
    fi
    sleep 1
  done
fi
log "Docker Engine $(docker version --format '{{.Server.Version}}') ready"
