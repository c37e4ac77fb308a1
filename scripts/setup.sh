#!/usr/bin/env bash
# Installs (when missing) the Debian packages that the tests, the interop checks and the demo
# need, and checks the kernel features the system tests use (/dev/net/tun, network namespaces).
#
#   bash scripts/setup.sh            # report what it does
#   bash scripts/setup.sh --quiet    # print nothing when everything is already present
#
# Idempotent: apt runs only when at least one command below is missing.
set -euo pipefail

quiet=0
for arg in "$@"; do
  case "$arg" in
    -q | --quiet) quiet=1 ;;
    -h | --help)
      sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "setup.sh: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

say() { if [ "$quiet" -eq 0 ]; then echo "setup: $*"; fi; }
die() {
  echo "setup: error: $*" >&2
  exit 1
}

# Many of the tools live in sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# "command package" pairs: the package is installed when the command is not found.
requirements=(
  "ip iproute2"
  "ss iproute2"
  "nft nftables"
  "wireguard-go wireguard-go"
  "wg wireguard-tools"
  "iperf3 iperf3"
  "openvpn openvpn"
  "turnserver coturn"
  "turnutils_uclient coturn"
  "tcpdump tcpdump"
  # conntrack -F: the connectivity topology flushes NAT mappings to simulate roaming.
  "conntrack conntrack"
  "chromium chromium"
  "7za p7zip-full"
  "dig dnsutils"
  # the upstream DNS servers of the DNS-resource scenarios (dnsmasq-base: no service starts).
  "dnsmasq dnsmasq-base"
  "curl curl"
  "ping iputils-ping"
  "ps procps"
  "pkill procps"
  "sysctl procps"
  # setcap/getcap: the Linux installers grant cap_net_admin; tests check it.
  "setcap libcap2-bin"
  # throwaway CAs and keys for the OpenVPN and TLS fixtures.
  "openssl openssl"
  # node-gyp builds native/node-tun.
  "make make"
  "g++ g++"
  "python3 python3"
)

missing_pkgs=()
missing_cmds=()
for pair in "${requirements[@]}"; do
  cmd="${pair%% *}"
  pkg="${pair#* }"
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing_cmds+=("$cmd")
    case " ${missing_pkgs[*]-} " in
      *" $pkg "*) ;;
      *) missing_pkgs+=("$pkg") ;;
    esac
  fi
done

is_root=0
if [ "$(id -u)" -eq 0 ]; then is_root=1; fi

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
  if [ "$is_root" -ne 1 ]; then
    die "missing commands: ${missing_cmds[*]}. Install them as root with:
  apt-get update && apt-get install -y --no-install-recommends ${missing_pkgs[*]}
or run: sudo bash scripts/setup.sh"
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing commands (${missing_cmds[*]}) and no apt-get: this script supports Debian only"
  say "installing: ${missing_pkgs[*]} (missing: ${missing_cmds[*]})"

  # Services such as coturn and iperf3 must not start on install: the tests start their own.
  # Use a temporary policy-rc.d unless one already exists.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    own_policy=1
  fi
  restore_policy() { if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi; }
  trap restore_policy EXIT

  apt_out=$(mktemp)
  if ! {
    apt-get update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing_pkgs[@]}"
  } >"$apt_out" 2>&1; then
    cat "$apt_out" >&2
    rm -f "$apt_out"
    die "apt-get failed while installing: ${missing_pkgs[*]}"
  fi
  if [ "$quiet" -eq 0 ]; then tail -n 3 "$apt_out"; fi
  rm -f "$apt_out"
  restore_policy
  trap - EXIT

  still=()
  for pair in "${requirements[@]}"; do
    cmd="${pair%% *}"
    command -v "$cmd" >/dev/null 2>&1 || still+=("$cmd")
  done
  [ "${#still[@]}" -eq 0 ] || die "still missing after apt-get install: ${still[*]}"
  say "packages installed"
fi

# node-gyp builds the TUN addon against the headers of the installed Node (npm's nodedir=/usr).
if [ ! -f /usr/include/node/node_api.h ] && [ "$quiet" -eq 0 ]; then
  echo "setup: warning: /usr/include/node/node_api.h not found; building native/node-tun needs Node's headers" >&2
fi

# The TUN device node: the engine and wireguard-go open it.
if [ ! -c /dev/net/tun ]; then
  if [ "$is_root" -eq 1 ]; then
    mkdir -p /dev/net
    mknod -m 0666 /dev/net/tun c 10 200 2>/dev/null || die "/dev/net/tun is missing and mknod failed (a container without CAP_MKNOD?)"
    say "created /dev/net/tun"
  else
    die "/dev/net/tun is missing; run this script as root to create it"
  fi
fi

# Network namespaces: the system tests build their topologies with them.
if [ "$is_root" -eq 1 ]; then
  probe="fzt-setup-$$"
  if ! err=$(ip netns add "$probe" 2>&1); then
    die "'ip netns add' does not work here: $err"
  fi
  if ! err=$(ip netns exec "$probe" ip link set lo up 2>&1); then
    ip netns del "$probe" >/dev/null 2>&1 || true
    die "'ip netns exec' does not work here: $err"
  fi
  ip netns del "$probe" || die "could not delete the probe namespace $probe"
else
  echo "setup: warning: not root; the system tests (network namespaces, TUN) need root" >&2
fi

say "all requirements present"
