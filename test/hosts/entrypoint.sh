#!/bin/sh
# Starts a test host: host keys made here (each host its own, never baked into the image), the
# authorized key given at start (TH_AUTHORIZED_KEY, a public key), an optional login user
# (TH_USER, with TH_SUDO=nopasswd|password|none), dockerd when installed, then sshd in front.
set -eu
mkdir -p /run/sshd
chmod 0755 /run/sshd
ssh-keygen -A >/dev/null

user=${TH_USER:-root}
if [ "$user" = root ]; then
  home=/root
else
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  home=$(getent passwd "$user" | cut -d: -f6)
  # A locked account (! in shadow) cannot log in even with a key: give it an unusable password.
  usermod -p '*' "$user"
  case "${TH_SUDO:-nopasswd}" in
    nopasswd) echo "$user ALL=(ALL) NOPASSWD: ALL" > "/etc/sudoers.d/$user" ;;
    password) echo "$user ALL=(ALL) ALL" > "/etc/sudoers.d/$user" ;;
    none) rm -f "/etc/sudoers.d/$user" ;;
  esac
  [ -f "/etc/sudoers.d/$user" ] && chmod 0440 "/etc/sudoers.d/$user"
fi
mkdir -p "$home/.ssh"
printf '%s\n' "${TH_AUTHORIZED_KEY:?TH_AUTHORIZED_KEY must hold a public key}" > "$home/.ssh/authorized_keys"
chmod 0700 "$home/.ssh"
chmod 0600 "$home/.ssh/authorized_keys"
chown -R "$user:" "$home/.ssh"

# A machine's devtmpfs has /dev/net/tun (Open vSwitch's netdev bridges and taps need it); a
# container's /dev does not, so make it as the kernel would (MKNOD and the device rule allow it).
if [ ! -c /dev/net/tun ]; then
  mkdir -p /dev/net
  mknod -m 0666 /dev/net/tun c 10 200
fi

# Docker Engine without systemd. Its containers' cgroups go under a parent named after this host,
# apart from the machine's own engine (the cgroup namespace is the machine's).
if command -v dockerd >/dev/null 2>&1; then
  dockerd --cgroup-parent "${TH_CGROUP_PARENT:-berth-th}" >/var/log/dockerd.log 2>&1 &
fi

exec /usr/sbin/sshd -D -e
