#!/bin/sh
# Runs inside the node image's root file system at build time (mmdebstrap chroot or docker build).
# It makes one image safe to start many times as distinct "hosts".
set -eu

# Every node gets its own SSH host keys and machine-id on first boot, not the image's.
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/ssh.service.d
cat > /etc/systemd/system/ssh.service.d/10-swarmforge-hostkeys.conf <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id

# Ansible logs in as an unprivileged sudoer (LAB_USER in lab/spec.py) with the lab key, and root does not log in over
# SSH at all: every run goes through become, as on operators' hosts. '*' is no password, not a locked account.
useradd --create-home --shell /bin/bash --uid 1000 --user-group swarmforge
usermod --password '*' swarmforge
install -d -o swarmforge -g swarmforge -m 700 /home/swarmforge/.ssh
echo 'swarmforge ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/swarmforge
chmod 440 /etc/sudoers.d/swarmforge
sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin no/; s/^#\?PasswordAuthentication.*/PasswordAuthentication no/' \
    /etc/ssh/sshd_config

# Units that only make sense on hardware or a console.
systemctl mask getty@tty1.service serial-getty@.service console-getty.service systemd-firstboot.service \
    systemd-remount-fs.service >/dev/null 2>&1 || true
systemctl enable ssh.service >/dev/null 2>&1

# Package lists are fetched by the roles (through the lab's apt cache), not baked in; the VM image keeps those of its
# build (fresh when CI builds it), which spares an emulated CPU a minute of parsing.
apt-get clean
if [ "${SWARMFORGE_KEEP_APT_LISTS:-0}" != 1 ]; then
    rm -rf /var/lib/apt/lists/*
fi
