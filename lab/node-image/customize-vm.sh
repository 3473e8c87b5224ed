#!/bin/sh
# Runs inside the VM image's root file system at build time (mmdebstrap chroot), after customize.sh: what a VM needs
# beyond a container node. Each VM gets a small seed disk (label sfseed) with its name, addresses and the lab's SSH
# key; swarmforge-seed applies it at every boot, before the network and sshd.
set -eu

cat > /etc/fstab <<'FSTAB'
LABEL=swarmforge-root / ext4 defaults,noatime 0 1
FSTAB
: > /etc/hostname

cat > /usr/local/sbin/swarmforge-seed <<'SCRIPT'
#!/bin/sh
# Apply this VM's seed disk: hostname, the user-mode NIC (SSH and the apt cache through qemu), the lab NIC with its
# static address and default route, the lab user's authorized key, the apt proxy. Safe to run at every boot.
set -eu
seed=/run/swarmforge-seed
mkdir -p "$seed"
mountpoint -q "$seed" || mount -o ro LABEL=sfseed "$seed"
. "$seed/node.env"

interface_with() {
    for device in /sys/class/net/*; do
        if [ "$(cat "$device/address")" = "$1" ]; then basename "$device"; return 0; fi
    done
    return 1
}
tries=0
until user_if=$(interface_with "$USER_MAC") && lab_if=$(interface_with "$LAB_MAC"); do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "swarmforge-seed: NICs $USER_MAC/$LAB_MAC never appeared" >&2; exit 1; }
    sleep 0.5
done

echo "$NODE_NAME" > /etc/hostname
hostname "$NODE_NAME"
ip link set lo up
ip link set "$user_if" up
ip addr replace 10.0.2.15/24 dev "$user_if"
ip link set "$lab_if" up
ip addr replace "$LAB_ADDRESS" dev "$lab_if"
ip route replace default via "$LAB_GATEWAY" dev "$lab_if"

# The lab has no DNS server: names come from /etc/hosts (roles/host_prep), and a lookup of anything else fails at
# once instead of waiting for a server nobody can reach.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > /etc/resolv.conf

install -d -o swarmforge -g swarmforge -m 700 /home/swarmforge/.ssh
install -o swarmforge -g swarmforge -m 600 "$seed/authorized_keys" /home/swarmforge/.ssh/authorized_keys
printf 'Acquire::http::Proxy "%s";\nAcquire::https::Proxy "DIRECT";\n' "$APT_PROXY" \
    > /etc/apt/apt.conf.d/01swarmforge-lab-proxy
umount "$seed"
SCRIPT
chmod 755 /usr/local/sbin/swarmforge-seed

cat > /etc/systemd/system/swarmforge-seed.service <<'UNIT'
[Unit]
Description=swarmforge lab: apply this VM's seed disk (name, addresses, SSH key)
DefaultDependencies=no
Wants=network-pre.target
After=local-fs.target systemd-udevd.service
Before=network-pre.target ssh.service docker.service chrony.service sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/swarmforge-seed

[Install]
WantedBy=sysinit.target
UNIT
systemctl enable swarmforge-seed.service >/dev/null 2>&1

# Services the roles start where they belong (nfs_server, registry); timers that would compete for an emulated CPU.
systemctl disable nfs-server.service docker-registry.service >/dev/null 2>&1 || true
systemctl mask apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer \
    e2scrub_reap.service >/dev/null 2>&1 || true
