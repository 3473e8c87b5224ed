#!/usr/bin/env bash
# The shell floor: what an operator would write instead of swarmforge, doing the work of host_prep, docker_engine,
# swarm and swarm_networks on the lab, with the same packages, files and settings as the lab inventory gives them.
# Every host is prepared in parallel over SSH (one connection each, kept open), then the swarm forms: init on the
# first manager, the other managers join one at a time, the workers in parallel, one overlay network.
#
#   bench/floor.sh HOSTS KEY [join NAME...]
#
# HOSTS has a line per host: "NAME ROLE ADDRESS" (ROLE: manager, worker or storage), managers first; KEY is the
# lab's SSH key. With `join NAME...` only those hosts are prepared and joined to the running swarm (scale out).
# Prints "floor: STEP SECONDS" per step and fails on the first error.
set -euo pipefail

hosts_file=$1
key=$2
shift 2
mode=${1:-all}
[ "$mode" = join ] && shift

declare -A role address
order=()
while read -r name node_role node_address; do
    [ -n "$name" ] || continue
    role[$name]=$node_role
    address[$name]=$node_address
    order+=("$name")
done <"$hosts_file"

managers=() workers=() storage=()
for name in "${order[@]}"; do
    case ${role[$name]} in
        manager) managers+=("$name") ;;
        worker) workers+=("$name") ;;
        storage) storage+=("$name") ;;
    esac
done
first=${managers[0]}
registry="${address[${storage[0]:-$first}]}:5000"
# The engines trust the lab CA for the registry (lab/pki.py, in the lab's state folder beside its ssh key).
registry_ca=$(cat "$(dirname "$(dirname "$key")")/pki/ca.crt")
members=$(for name in "${managers[@]}" "${workers[@]}"; do printf '%s, ' "${address[$name]}"; done)
members=${members%, }
subnet="${address[$first]%.*}.0/24"
domain=lab.swarmforge.test
control=$(mktemp -d)
# The lab's nodes are reached as a sudoer (LAB_USER in lab/spec.py), root does not log in: every command goes through
# sudo, as an operator's script would on such hosts.
user=${SWARMFORGE_LAB_USER:-swarmforge}
ssh_options=(-i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    -o ControlMaster=auto -o ControlPath="$control/%h" -o ControlPersist=300)
trap 'for n in "${order[@]}"; do ssh "${ssh_options[@]}" -O exit "$user@${address[$n]}" >/dev/null 2>&1 || true; done
      rm -rf "$control"' EXIT

# ssh_to NAME COMMAND...: the words of COMMAND form one shell command line, run as root.
ssh_to() {
    local name=$1
    shift
    ssh "${ssh_options[@]}" "$user@${address[$name]}" sudo -n -- sh -c "$(printf '%q' "$*")"
}

step_started=0
step() { step_started=$(date +%s%N); }
done_step() {
    local ms=$((($(date +%s%N) - step_started) / 1000000))
    printf 'floor: %-28s %4d.%d\n' "$1" $((ms / 1000)) $((ms % 1000 / 100))
}

# /etc/hosts: the cluster's nodes (written in place: a container's /etc/hosts is a bind mount).
hosts_script="hosts=\$(sed '/# BEGIN swarmforge cluster nodes/,/# END swarmforge cluster nodes/d' /etc/hosts)
{
    echo \"\$hosts\"
    echo '# BEGIN swarmforge cluster nodes'
$(for n in "${order[@]}"; do echo "    echo '${address[$n]} $n.$domain $n'"; done)
    echo '# END swarmforge cluster nodes'
} >/etc/hosts"

# What one host needs before it can be a swarm member: the steps of host_prep and docker_engine.
prepare() {
    local name=$1 chrony_conf daemon_opts
    if [ "$name" = "$first" ]; then
        chrony_conf="local stratum 10
allow $subnet"
    else
        chrony_conf="server ${address[$first]} iburst"
    fi
    daemon_opts='-F 1 -x'
    ssh_to "$name" bash -s <<EOF
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
apt-get install -y -qq -o Dpkg::Use-Pty=0 chrony nftables nfs-common rpcbind docker.io python3-docker >/dev/null 2>&1
apt-mark hold docker.io >/dev/null

$hosts_script

# Kernel prerequisites, where the kernel has them and lets us.
for module in overlay br_netfilter ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack; do
    modprobe --dry-run --quiet \$module 2>/dev/null && echo \$module
done >/etc/modules-load.d/swarmforge.conf
for module in \$(cat /etc/modules-load.d/swarmforge.conf); do modprobe \$module 2>/dev/null || true; done
for setting in net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1; do
    [ -w /proc/sys/\$(echo \${setting%=*} | tr . /) ] && echo \$setting
done >/etc/sysctl.d/60-swarmforge.conf
sysctl -q -p /etc/sysctl.d/60-swarmforge.conf || true

# Swarm ports for cluster members only.
mkdir -p /etc/swarmforge
cat >/etc/swarmforge/members.nft <<'NFT'
add element inet swarmforge members4 { $members }
NFT
cat >/etc/swarmforge/firewall.nft <<'NFT'
table inet swarmforge
delete table inet swarmforge
table inet swarmforge {
    set members4 { type ipv4_addr; flags interval; }
    set members6 { type ipv6_addr; flags interval; }
    chain input {
        type filter hook input priority filter - 5; policy accept;
        iif "lo" accept
        tcp dport 22 accept
$(if [ "${role[$name]}" = manager ]; then echo "        tcp dport 2377 ip saddr != @members4 drop"; fi)
        tcp dport 7946 ip saddr != @members4 drop
        udp dport 7946 ip saddr != @members4 drop
        udp dport 4789 ip saddr != @members4 drop
    }
}
include "/etc/swarmforge/members.nft"
NFT
cat >/etc/systemd/system/swarmforge-firewall.service <<'UNIT'
[Unit]
Before=network-pre.target docker.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft --file /etc/swarmforge/firewall.nft
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now swarmforge-firewall >/dev/null 2>&1

# Time: the first manager serves the lab, the others follow it; containers only measure (-x).
cat >/etc/chrony/chrony.conf <<'CONF'
$chrony_conf
driftfile /var/lib/chrony/chrony.drift
makestep 1.0 3
CONF
echo 'DAEMON_OPTS="$daemon_opts"' >/etc/default/chrony
mkdir -p /etc/systemd/system/chrony.service.d
printf '[Unit]\nConditionCapability=\n' >/etc/systemd/system/chrony.service.d/swarmforge.conf
systemctl daemon-reload
systemctl enable chrony >/dev/null 2>&1
systemctl restart chrony

# The engine's configuration, then one restart.
mkdir -p /etc/docker
cat >/etc/docker/daemon.json <<'JSON'
{"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
JSON
mkdir -p /etc/docker/certs.d/$registry
cat >/etc/docker/certs.d/$registry/ca.crt <<'PEM'
$registry_ca
PEM
systemctl enable docker >/dev/null 2>&1
systemctl restart docker
until docker info >/dev/null 2>&1; do sleep 0.5; done

# The clock follows its source (as host_prep checks it) before the host counts as ready.
if [ "$name" != "$first" ]; then
    for _ in \$(seq 60); do
        source=\$(chronyc -c tracking | cut -d, -f2)
        case \$source in ''|0.0.0.0|127.127.1.1) sleep 1 ;; *) break ;; esac
    done
fi
EOF
}

# A member learns new hosts (scale out): their names, and their addresses in its firewall's member set.
admit() {
    local name=$1
    ssh_to "$name" bash -s <<EOF
set -euo pipefail
$hosts_script
cat >/etc/swarmforge/members.nft <<'NFT'
add element inet swarmforge members4 { $members }
NFT
nft --file /etc/swarmforge/members.nft
EOF
}

# Run one function per host in parallel; fail if any failed.
parallel() {
    local func=$1 pids=() name failed=0
    shift
    for name in "$@"; do
        "$func" "$name" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    return $failed
}

join_one() {
    local name=$1 kind=$2
    ssh_to "$name" "docker swarm join --token ${tokens[$kind]} --advertise-addr ${address[$name]} ${address[$first]}:2377" \
        >/dev/null
}
join_worker() { join_one "$1" worker; }

declare -A tokens
read_tokens() {
    tokens[manager]=$(ssh_to "$first" docker swarm join-token -q manager)
    tokens[worker]=$(ssh_to "$first" docker swarm join-token -q worker)
}

if [ "$mode" = join ]; then
    step
    members_before=()
    for name in "${managers[@]}" "${workers[@]}" "${storage[@]}"; do
        case " $* " in *" $name "*) ;; *) members_before+=("$name") ;; esac
    done
    parallel admit "${members_before[@]}"
    parallel prepare "$@"
    done_step "prepare $*"
    step
    read_tokens
    for name in "$@"; do
        if [ "${role[$name]}" = manager ]; then join_one "$name" manager; fi
    done
    new_workers=()
    for name in "$@"; do [ "${role[$name]}" = worker ] && new_workers+=("$name"); done
    [ ${#new_workers[@]} -eq 0 ] || parallel join_worker "${new_workers[@]}"
    done_step "join $*"
    exit 0
fi

step
parallel prepare "${order[@]}"
done_step "prepare hosts"

step
ssh_to "$first" "docker swarm init --advertise-addr ${address[$first]} >/dev/null"
read_tokens
for name in "${managers[@]:1}"; do join_one "$name" manager; done
[ ${#workers[@]} -eq 0 ] || parallel join_worker "${workers[@]}"
done_step "form the swarm"

step
ssh_to "$first" "docker network create --driver overlay --subnet 10.201.0.0/24 --attachable \
    --label io.swarmforge.stack=web swarmforge_web >/dev/null"
done_step "overlay network"
