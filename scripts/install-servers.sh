#!/usr/bin/env bash
# install-servers.sh installs the real servers the integration tests start,
# if they are missing. It is idempotent and starts no service.
#
#   scripts/install-servers.sh                 # the default list below
#   scripts/install-servers.sh mosquitto ...   # just these components
#
# Components: mosquitto, influxd, prometheus, chromium (see INFRA.md for why
# each is installed the way it is), and dist: the tools scripts/test-dist.sh
# uses (qemu-user-static, systemd-analyze, dpkg-deb; INFRA.md §§ 8-9), not in
# the default list. Works as root, or through sudo.
set -euo pipefail

# Components installed when no argument is given. Add one here when a test
# starts using it.
DEFAULT_COMPONENTS="mosquitto prometheus influxd chromium"

# Pinned versions.
INFLUXD_MODULE="github.com/influxdata/influxdb/cmd/influxd@v1.8.10"

# Debian keeps daemons in sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { echo "install-servers: $*" >&2; }
die() { log "error: $*"; exit 1; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install packages"
	SUDO=(sudo)
fi

have() { command -v "$1" >/dev/null 2>&1; }

apt_updated=0
apt_install() { # apt_install [--no-install-recommends] PKG...
	have apt-get || die "apt-get not found: install $* by hand"
	if [[ $apt_updated -eq 0 ]]; then
		log "apt-get update"
		"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
		apt_updated=1
	fi
	log "apt-get install $*"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
}

# Packages must not start services (mosquitto's would take :1883). Without
# an existing policy-rc.d, install one that forbids starts for the duration
# of this script; it is removed on exit.
POLICY=/usr/sbin/policy-rc.d
policy_installed=0
forbid_service_starts() {
	[[ $policy_installed -eq 1 || -e $POLICY ]] && return 0
	printf '#!/bin/sh\n# written by rollcall scripts/install-servers.sh\nexit 101\n' |
		"${SUDO[@]}" tee "$POLICY" >/dev/null
	"${SUDO[@]}" chmod 755 "$POLICY"
	policy_installed=1
	trap 'allow_service_starts' EXIT
}
allow_service_starts() {
	if [[ $policy_installed -eq 1 ]]; then
		"${SUDO[@]}" rm -f "$POLICY"
		policy_installed=0
	fi
}

# warn_if_started NAME: packages may start a daemon despite policy-rc.d on
# some systems; say so rather than leave it silently running.
warn_if_started() {
	if have pgrep && pgrep -x "$1" >/dev/null; then
		log "warning: a $1 process is running; the tests start their own on free ports, stop it if a package started it"
	fi
}

# One function per component: install_NAME installs NAME if it is missing.

install_mosquitto() {
	if have mosquitto && have mosquitto_pub && have mosquitto_sub; then
		log "mosquitto: present ($(command -v mosquitto))"
		return
	fi
	forbid_service_starts
	apt_install mosquitto mosquitto-clients
	warn_if_started mosquitto
}

install_influxd() {
	local gobin
	have go || die "influxd: go not found"
	gobin=$(go env GOBIN)
	[[ -n $gobin ]] || gobin="$(go env GOPATH)/bin"
	if have influxd || [[ -x $gobin/influxd ]]; then
		log "influxd: present"
		return
	fi
	# Debian's influxdb (1.6) lacks the v2 API, and 1.9+ needs the Rust
	# libflux; 1.8.10 builds from the module proxy (about 60 s).
	log "go install $INFLUXD_MODULE"
	GOFLAGS= go install "$INFLUXD_MODULE"
}

install_prometheus() {
	if have prometheus && have promtool; then
		log "prometheus: present ($(command -v prometheus))"
		return
	fi
	forbid_service_starts
	# Without --no-install-recommends it pulls node-exporter and ipmitool.
	apt_install --no-install-recommends prometheus
	warn_if_started prometheus
}

install_chromium() {
	if have chromium; then
		log "chromium: present ($(command -v chromium))"
		return
	fi
	forbid_service_starts
	apt_install chromium
}

# dist: qemu-user-static runs the arm64 and armv7 binaries (binfmt_misc is
# not mounted, so they are run through qemu-*-static explicitly);
# systemd-analyze checks the unit (systemd 252 works without being PID 1);
# dpkg-deb inspects the package.
install_dist() {
	local pkgs=()
	have qemu-aarch64-static && have qemu-arm-static || pkgs+=(qemu-user-static)
	have systemd-analyze || pkgs+=(systemd)
	have dpkg-deb || pkgs+=(dpkg)
	if [[ ${#pkgs[@]} -eq 0 ]]; then
		log "dist: present (qemu-aarch64-static, qemu-arm-static, systemd-analyze, dpkg-deb)"
		return
	fi
	forbid_service_starts
	apt_install --no-install-recommends "${pkgs[@]}"
}

usage() {
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
	echo "Default: $DEFAULT_COMPONENTS"
}

main() {
	local components=("$@") c
	if [[ ${#components[@]} -eq 0 ]]; then
		read -r -a components <<<"$DEFAULT_COMPONENTS"
	fi
	for c in "${components[@]}"; do
		case $c in
		-h | --help) usage; return 0 ;;
		mosquitto | influxd | prometheus | chromium | dist) ;;
		*) usage >&2; die "unknown component: $c" ;;
		esac
	done
	for c in "${components[@]}"; do
		"install_$c"
	done
	allow_service_starts
}

main "$@"
