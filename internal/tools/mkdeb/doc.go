// Command mkdeb builds rollcall's Debian package from binaries that
// `make dist` built, with nfpm (github.com/goreleaser/nfpm/v2). It is a
// build tool: nothing of it is linked into rollcall. `make dist` runs it
// once per architecture:
//
//	go run ./internal/tools/mkdeb -version v1.2.3 -arch arm64 -bin dist/linux-arm64 -o dist
//
// -version is `git describe --tags --always --dirty` output, turned into a
// Debian version; -arch is amd64, arm64 or armv7 (Debian's armhf); -bin
// holds that architecture's rollcall and fleetsim; -root (default .) is
// the repository root the other files come from. It writes
// rollcall_<version>_<arch>.deb into -o (default dist) and prints its
// path; every source file must exist, and on an error it exits 1 and
// leaves no half-written package.
//
// The package holds /usr/bin/rollcall and /usr/bin/fleetsim, the hardened
// unit /lib/systemd/system/rollcall.service, the conffiles
// /etc/rollcall/rollcall.yaml and /etc/rollcall/devices.yaml.example, and the
// documentation; its maintainer scripts (deploy/debian) create the system user
// rollcall and start nothing. File times come from SOURCE_DATE_EPOCH when it
// is set, so a rebuild of the same commit gives the same package.
package main
