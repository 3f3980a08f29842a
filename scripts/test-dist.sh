#!/usr/bin/env bash
# test-dist.sh checks what `make dist` makes (issue 13, "Deployable"):
#
#   a. `make dist` builds the static binaries and the Debian packages;
#   b. the core packages' tests pass as linux/arm64 binaries under qemu-user;
#   c. the arm64 rollcall, under qemu-aarch64-static, starts with its embedded
#      broker on loopback, counts readings published over MQTT, shows the
#      device in the API and exits 0 on SIGTERM;
#   d. the amd64 package: dpkg-deb -I/-c, then (as root) dpkg -i, the files,
#      the user and the stamped version, dpkg -r and dpkg --purge;
#   e. deploy/rollcall.service passes `systemd-analyze verify` and scores at
#      most 2.0 on `systemd-analyze security --offline=yes`.
#
#   scripts/test-dist.sh          # all of it (make test-dist)
#   SKIP_DIST=1 scripts/test-dist.sh   # reuse dist/ from an earlier make dist
#
# It installs its tools with scripts/install-servers.sh (component dist, and
# mosquitto for mosquitto_pub). A missing tool, or not being root for step d,
# skips that step with a message, except under CI=true, where it fails.
# It starts only its own processes on loopback, and removes what it installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Largest exposure score `systemd-analyze security` may give the unit.
MAX_EXPOSURE=2.0
# The core packages tested under qemu-user (INFRA.md § 8).
QEMU_PACKAGES=(./ingest/ ./dedup/ ./staleness/ ./window/ ./aggregate/ ./journal/)
# How long the smoke run waits for each step under emulation.
SMOKE_TIMEOUT=90

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)}
export VERSION

START=$SECONDS
log() { printf 'test-dist [%3ds]: %s\n' $((SECONDS - START)) "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
ok() { log "ok: $*"; }

# skip REASON: under CI a skipped step is a failure.
skip() {
	[[ ${CI:-} == true ]] && die "$* (CI=true: nothing may be skipped)"
	log "SKIP: $*"
}
have() { command -v "$1" >/dev/null 2>&1; }
# need TOOL...: true if every tool is present, else skip (or fail under CI).
need() {
	local t missing=()
	for t in "$@"; do have "$t" || missing+=("$t"); done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	skip "missing ${missing[*]} (scripts/install-servers.sh dist mosquitto installs them)"
	return 1
}
is_root() { [[ $(id -u) -eq 0 ]]; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rollcall-test-dist.XXXXXX")
SMOKE_PID=
PKG_INSTALLED=0
DEVICES_CREATED=0
USER_EXISTED=1
GROUP_EXISTED=1
cleanup() {
	local rc=$?
	if [[ -n $SMOKE_PID ]] && kill -0 "$SMOKE_PID" 2>/dev/null; then
		kill -KILL "$SMOKE_PID" 2>/dev/null || true
		wait "$SMOKE_PID" 2>/dev/null || true
	fi
	if [[ $DEVICES_CREATED -eq 1 ]]; then
		rm -f /etc/rollcall/devices.yaml
	fi
	if [[ $PKG_INSTALLED -eq 1 ]]; then
		dpkg --purge rollcall >/dev/null 2>&1 || log "warning: dpkg --purge rollcall failed"
	fi
	# The package keeps its system user on purge (Debian practice); this
	# test removes the one it caused to be created.
	if is_root && [[ $USER_EXISTED -eq 0 ]] && getent passwd rollcall >/dev/null; then
		userdel rollcall >/dev/null 2>&1 || log "warning: userdel rollcall failed"
	fi
	if is_root && [[ $GROUP_EXISTED -eq 0 ]] && getent group rollcall >/dev/null; then
		groupdel rollcall >/dev/null 2>&1 || log "warning: groupdel rollcall failed"
	fi
	rm -rf "$TMP"
	if [[ $rc -eq 0 ]]; then log "passed in $((SECONDS - START)) s"; else log "failed (exit $rc)"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port: a TCP port nothing listens on (loopback); the caller binds it soon.
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
	local timeout=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@"; do
		if [[ -n $SMOKE_PID ]] && ! kill -0 "$SMOKE_PID" 2>/dev/null; then
			die "rollcall exited while waiting for $what (log: $TMP/smoke.log)$(tail -20 "$TMP/smoke.log" | sed 's/^/\n  /')"
		fi
		((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for $what"
		sleep 0.2
	done
}

install_tools() {
	if scripts/install-servers.sh dist mosquitto; then
		return 0
	fi
	[[ ${CI:-} == true ]] && die "scripts/install-servers.sh dist mosquitto failed"
	log "warning: could not install the tools; steps that need them are skipped"
}

# a. make dist
step_dist() {
	if [[ -n ${SKIP_DIST:-} ]]; then
		log "a. SKIP_DIST set: using dist/ as it is"
	else
		log "a. make dist VERSION=$VERSION"
		make --no-print-directory dist VERSION="$VERSION" >"$TMP/dist.log" 2>&1 ||
			die "make dist failed:$(tail -30 "$TMP/dist.log" | sed 's/^/\n  /')"
	fi
	local f
	for f in dist/linux-{amd64,arm64,armv7}/{rollcall,fleetsim} dist/rollcall_*_{amd64,arm64,armhf}.deb; do
		[[ -s $f ]] || die "make dist did not make $f"
	done
	if have file; then
		file dist/linux-arm64/rollcall | grep -q 'ARM aarch64.*statically linked' ||
			die "dist/linux-arm64/rollcall is not a static aarch64 binary: $(file dist/linux-arm64/rollcall)"
		file dist/linux-armv7/rollcall | grep -q 'ARM, EABI5.*statically linked' ||
			die "dist/linux-armv7/rollcall is not a static 32-bit ARM binary: $(file dist/linux-armv7/rollcall)"
	fi
	local got
	got=$(dist/linux-amd64/rollcall --version)
	[[ $got == "rollcall $VERSION" ]] || die "dist/linux-amd64/rollcall --version printed '$got', want 'rollcall $VERSION'"
	got=$(dist/linux-amd64/fleetsim --version)
	[[ $got == "fleetsim $VERSION" ]] || die "dist/linux-amd64/fleetsim --version printed '$got', want 'fleetsim $VERSION'"
	ok "a. make dist: 6 static binaries and 3 packages, version $VERSION stamped"
}

# e. the unit
step_unit() {
	need systemd-analyze || return 0
	# verify wants ExecStart's binary: check the unit in a temporary root
	# that has the host's units and the real binary as /usr/bin/rollcall.
	local root=$TMP/root out score
	mkdir -p "$root/usr/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
	cp -a /lib/systemd/system "$root/usr/lib/systemd/"
	cp dist/linux-amd64/rollcall "$root/usr/bin/rollcall"
	cp deploy/rollcall.service "$root/etc/systemd/system/"
	out=$(systemd-analyze verify --root="$root" rollcall.service 2>&1) ||
		die "systemd-analyze verify deploy/rollcall.service:$(sed 's/^/\n  /' <<<"$out")"
	[[ -z $out ]] || die "systemd-analyze verify deploy/rollcall.service warned:$(sed 's/^/\n  /' <<<"$out")"
	out=$(systemd-analyze security --offline=yes --no-pager deploy/rollcall.service 2>&1) ||
		die "systemd-analyze security failed:$(sed 's/^/\n  /' <<<"$out")"
	score=$(sed -n 's/.*Overall exposure level for rollcall.service: \([0-9.]*\).*/\1/p' <<<"$out")
	[[ -n $score ]] || die "no exposure score in systemd-analyze security output:$(tail -5 <<<"$out" | sed 's/^/\n  /')"
	awk -v s="$score" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(s <= max) }' ||
		die "deploy/rollcall.service exposure $score > $MAX_EXPOSURE:$(grep '✗' <<<"$out" | sed 's/^/\n  /')"
	ok "e. deploy/rollcall.service: systemd-analyze verify clean, security exposure $score (<= $MAX_EXPOSURE)"
}

# d. the amd64 package
step_deb() {
	need dpkg-deb || return 0
	local deb=(dist/rollcall_*_amd64.deb) info contents f want
	info=$(dpkg-deb -I "${deb[0]}")
	for want in "Package: rollcall" "Architecture: amd64" "Depends: passwd" " conffiles " " postinst " " prerm " " postrm "; do
		grep -qF -- "$want" <<<"$info" || die "dpkg-deb -I ${deb[0]}: no '$want':$(sed 's/^/\n  /' <<<"$info")"
	done
	[[ $(dpkg-deb --ctrl-tarfile "${deb[0]}" | tar -xO ./conffiles | sort | tr '\n' ' ') == "/etc/rollcall/devices.yaml.example /etc/rollcall/rollcall.yaml " ]] ||
		die "conffiles of ${deb[0]}: $(dpkg-deb --ctrl-tarfile "${deb[0]}" | tar -xO ./conffiles)"
	contents=$(dpkg-deb -c "${deb[0]}")
	for f in ./usr/bin/rollcall ./usr/bin/fleetsim ./lib/systemd/system/rollcall.service \
		./etc/rollcall/rollcall.yaml ./etc/rollcall/devices.yaml.example ./usr/share/doc/rollcall/deployment.md; do
		grep -qE " $f\$" <<<"$contents" || die "dpkg-deb -c ${deb[0]}: no $f"
	done
	grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/rollcall$' <<<"$contents" || die "/usr/bin/rollcall is not root-owned 0755"
	grep -qE '^drwxr-x--- root/root .* \./etc/rollcall/$' <<<"$contents" || die "/etc/rollcall is not 0750"
	ok "d. dpkg-deb -I/-c ${deb[0]}: fields, conffiles, maintainer scripts, paths and modes"

	if ! is_root; then
		skip "d. dpkg -i needs root"
		return 0
	fi
	need curl runuser setpriv || return 0
	if dpkg-query -W -f='${Status}' rollcall 2>/dev/null | grep -q 'installed'; then
		skip "d. a rollcall package is already installed on this machine; not touching it"
		return 0
	fi
	getent passwd rollcall >/dev/null || USER_EXISTED=0
	getent group rollcall >/dev/null || GROUP_EXISTED=0
	PKG_INSTALLED=1
	dpkg -i "${deb[0]}" >"$TMP/dpkg.log" 2>&1 || die "dpkg -i ${deb[0]}:$(sed 's/^/\n  /' "$TMP/dpkg.log")"
	for f in /usr/bin/rollcall /usr/bin/fleetsim /lib/systemd/system/rollcall.service \
		/etc/rollcall/rollcall.yaml /etc/rollcall/devices.yaml.example; do
		[[ -f $f ]] || die "dpkg -i: $f missing"
	done
	cmp -s deploy/rollcall.service /lib/systemd/system/rollcall.service || die "installed unit differs from deploy/rollcall.service"
	cmp -s deploy/rollcall.yaml /etc/rollcall/rollcall.yaml || die "installed config differs from deploy/rollcall.yaml"
	want="rollcall $VERSION"
	[[ $(/usr/bin/rollcall --version) == "$want" ]] || die "installed rollcall --version: '$(/usr/bin/rollcall --version)', want '$want'"
	run_installed
	getent passwd rollcall | grep -q ':/var/lib/rollcall:/usr/sbin/nologin$' || die "postinst: no system user rollcall ($(getent passwd rollcall))"
	[[ $(stat -c '%U:%G %a' /etc/rollcall) == "root:rollcall 750" ]] || die "/etc/rollcall is $(stat -c '%U:%G %a' /etc/rollcall), want root:rollcall 750"
	dpkg-statoverride --list /etc/rollcall >/dev/null || die "postinst: no statoverride for /etc/rollcall"
	if [[ ! -d /run/systemd/system ]] && pgrep -x rollcall >/dev/null; then
		die "postinst started rollcall on a system without systemd"
	fi
	if have systemd-analyze; then
		systemd-analyze verify /lib/systemd/system/rollcall.service >"$TMP/verify.log" 2>&1 ||
			die "systemd-analyze verify of the installed unit:$(sed 's/^/\n  /' "$TMP/verify.log")"
	fi
	# A conffile edit survives an upgrade (a reinstall of the same package).
	echo "# edited by test-dist.sh" >>/etc/rollcall/rollcall.yaml
	dpkg -i --force-confold "${deb[0]}" >"$TMP/dpkg.log" 2>&1 || die "dpkg -i (again):$(sed 's/^/\n  /' "$TMP/dpkg.log")"
	grep -q 'edited by test-dist.sh' /etc/rollcall/rollcall.yaml || die "reinstall replaced the edited conffile"
	ok "d. dpkg -i: files, user rollcall, the installed rollcall runs as it with the installed config, /etc/rollcall root:rollcall 0750, $want, installed unit verifies, conffile kept"

	dpkg -r rollcall >"$TMP/dpkg.log" 2>&1 || die "dpkg -r rollcall:$(sed 's/^/\n  /' "$TMP/dpkg.log")"
	[[ ! -e /usr/bin/rollcall && ! -e /lib/systemd/system/rollcall.service ]] || die "dpkg -r left the binary or the unit"
	[[ -f /etc/rollcall/rollcall.yaml ]] || die "dpkg -r removed the conffile (only --purge may)"
	dpkg --purge rollcall >"$TMP/dpkg.log" 2>&1 || die "dpkg --purge rollcall:$(sed 's/^/\n  /' "$TMP/dpkg.log")"
	PKG_INSTALLED=0
	[[ ! -e /etc/rollcall ]] || die "dpkg --purge left /etc/rollcall: $(ls -la /etc/rollcall)"
	! dpkg-statoverride --list /etc/rollcall >/dev/null || die "dpkg --purge left the statoverride"
	ok "d. dpkg -r kept the conffiles, dpkg --purge removed them and the statoverride"
}

# run_installed starts the installed rollcall as the service user with the
# installed config (ports and data dir overridden), the way the unit does:
# the config loads, the user can read /etc/rollcall, SIGTERM exits 0.
run_installed() {
	local data http mqtt hash rc
	http=$(free_port)
	mqtt=$(free_port)
	data=$TMP/installed-data
	chmod 0711 "$TMP"
	install -d -o rollcall -g rollcall -m 0750 "$data"
	runuser -u rollcall -- test -r /etc/rollcall/rollcall.yaml || die "the user rollcall cannot read /etc/rollcall/rollcall.yaml"
	runuser -u nobody -- test ! -r /etc/rollcall/rollcall.yaml || die "the user nobody can read /etc/rollcall/rollcall.yaml"
	# With a rollcall that has `passwd`, give the config's devices_file (if
	# it names one) an entry.
	if hash=$(printf 'test-dist-password' | /usr/bin/rollcall passwd 2>/dev/null) && [[ $hash == '$2'* ]]; then
		printf 'smoke-site/smoke-01: "%s"\n' "$hash" >"$TMP/devices.yaml"
		DEVICES_CREATED=1
		install -m 0640 -o root -g rollcall "$TMP/devices.yaml" /etc/rollcall/devices.yaml
	fi
	setpriv --reuid=rollcall --regid=rollcall --init-groups --inh-caps=-all \
		/usr/bin/rollcall serve --config /etc/rollcall/rollcall.yaml --data-dir "$data" \
		--http-addr "127.0.0.1:$http" --mqtt-listen "127.0.0.1:$mqtt" >"$TMP/smoke.log" 2>&1 &
	SMOKE_PID=$!
	wait_for 60 "the installed rollcall's /readyz" curl -fs -o /dev/null "http://127.0.0.1:$http/readyz"
	kill -TERM "$SMOKE_PID"
	rc=0
	wait "$SMOKE_PID" || rc=$?
	SMOKE_PID=
	[[ $rc -eq 0 ]] || die "installed rollcall exited $rc after SIGTERM:$(tail -20 "$TMP/smoke.log" | sed 's/^/\n  /')"
	if [[ $DEVICES_CREATED -eq 1 ]]; then
		rm -f /etc/rollcall/devices.yaml
		DEVICES_CREATED=0
	fi
}

# c. smoke run of the arm64 rollcall under qemu-user
step_smoke() {
	need qemu-aarch64-static mosquitto_pub curl || return 0
	local http mqtt base i ts rc
	http=$(free_port)
	mqtt=$(free_port)
	base="http://127.0.0.1:$http"
	log "c. qemu-aarch64-static dist/linux-arm64/rollcall serve (HTTP :$http, MQTT :$mqtt)"
	qemu-aarch64-static dist/linux-arm64/rollcall serve --data-dir "$TMP/data" \
		--http-addr "127.0.0.1:$http" --mqtt-listen "127.0.0.1:$mqtt" --window 1s \
		>"$TMP/smoke.log" 2>&1 &
	SMOKE_PID=$!
	wait_for "$SMOKE_TIMEOUT" "/readyz 200" curl -fs -o /dev/null "$base/readyz"
	for i in 1 2 3; do
		ts=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
		mosquitto_pub -h 127.0.0.1 -p "$mqtt" -q 1 -i "smoke-pub-$i" -t fleet/smoke-site/smoke-01/telemetry \
			-m "{\"seq\": $i, \"boot\": 1, \"ts\": \"$ts\", \"metrics\": {\"power_kw\": $((100 * i))}}" ||
			die "mosquitto_pub to the arm64 rollcall's embedded broker failed"
	done
	wait_for "$SMOKE_TIMEOUT" "3 accepted readings in /metrics" smoke_accepted 3
	wait_for "$SMOKE_TIMEOUT" "smoke-01 in /api/v1/devices" smoke_device "$base"
	kill -TERM "$SMOKE_PID"
	rc=0
	wait "$SMOKE_PID" || rc=$?
	SMOKE_PID=
	[[ $rc -eq 0 ]] || die "arm64 rollcall exited $rc after SIGTERM, want 0:$(tail -20 "$TMP/smoke.log" | sed 's/^/\n  /')"
	ok "c. arm64 rollcall under qemu: ready, 3 readings over MQTT accepted, device in the API, clean exit on SIGTERM"
}
smoke_accepted() {
	local n
	n=$(curl -fsS "http://127.0.0.1:$http/metrics" 2>/dev/null |
		sed -n 's/^rollcall_messages_total{outcome="accepted"} \([0-9.e+]*\)$/\1/p')
	[[ -n $n ]] && awk -v n="$n" -v want="$1" 'BEGIN { exit !(n >= want) }'
}
smoke_device() {
	curl -fsS "$1/api/v1/devices" 2>/dev/null | grep -q 'smoke-01"'
}

# b. core package tests as arm64 binaries under qemu-user
step_qemu_tests() {
	need qemu-aarch64-static || return 0
	log "b. GOARCH=arm64 go test -short -exec qemu-aarch64-static ${QEMU_PACKAGES[*]}"
	# -trimpath as make dist builds, so the dependencies come from its cache.
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 "$GO" test -trimpath -short -count=1 -timeout 5m \
		-exec qemu-aarch64-static "${QEMU_PACKAGES[@]}" >"$TMP/qemu-test.log" 2>&1 ||
		die "arm64 tests under qemu failed:$(tail -40 "$TMP/qemu-test.log" | sed 's/^/\n  /')"
	sed 's/^/  /' "$TMP/qemu-test.log" >&2
	ok "b. arm64 core tests under qemu-aarch64-static"
}

main() {
	install_tools
	step_dist
	step_unit
	step_deb
	step_smoke
	step_qemu_tests
}

main "$@"
