package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Package metadata.
const (
	packageName = "rollcall"
	description = "uncertainty-aware IoT telemetry aggregator for edge gateways\n" +
		"rollcall aggregates MQTT telemetry of a device fleet into event-time\n" +
		"windows that say how much of the fleet they saw. It embeds an\n" +
		"authenticated MQTT broker or uses an external one. The package installs\n" +
		"a hardened systemd unit and starts nothing: configure /etc/rollcall, then\n" +
		"run systemctl enable --now rollcall."
	homepage          = "https://github.com/rollcall-iot/rollcall"
	defaultMaintainer = "rollcall-iot <rollcall-iot@users.noreply.github.com>"
)

// archs maps the names of `make dist` (the dist/linux-<name> directories) to
// Debian architectures.
var archs = map[string]string{
	"amd64": "amd64",
	"arm64": "arm64",
	"armv7": "armhf",
}

type options struct {
	version    string // git describe output, e.g. v1.2.3-4-gabcdef0-dirty
	arch       string // a key of archs
	binDir     string // holds rollcall and fleetsim for arch
	root       string // repository root: deploy/, docs/, examples/
	outDir     string
	maintainer string
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("mkdeb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.version, "version", "", "version, as `git describe --tags --always --dirty` prints it (required)")
	fs.StringVar(&o.arch, "arch", "", "architecture: amd64, arm64 or armv7 (required)")
	fs.StringVar(&o.binDir, "bin", "", "`dir`ectory with the rollcall and fleetsim binaries of -arch (required)")
	fs.StringVar(&o.root, "root", ".", "repository root `dir`ectory")
	fs.StringVar(&o.outDir, "o", "dist", "output `dir`ectory")
	fs.StringVar(&o.maintainer, "maintainer", defaultMaintainer, "the package's Maintainer field")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	name, err := build(o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, name)
	return nil
}

// build writes the package into o.outDir and returns its path.
func build(o options) (string, error) {
	info, err := packageInfo(o)
	if err != nil {
		return "", err
	}
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("contents: %w", err)
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return "", err
	}
	name := filepath.Join(o.outDir, deb.Default.ConventionalFileName(info))
	f, err := os.Create(name)
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		// The package error is the one to report; the half-written file
		// goes either way.
		_ = f.Close()
		_ = os.Remove(name)
		return "", fmt.Errorf("package %s: %w", name, err)
	}
	return name, f.Close()
}

// packageInfo describes the package; every source file must exist.
func packageInfo(o options) (*nfpm.Info, error) {
	var errs []error
	if o.version == "" {
		errs = append(errs, errors.New("-version: required"))
	}
	version, err := debVersion(o.version)
	if o.version != "" && err != nil {
		errs = append(errs, err)
	}
	arch, ok := archs[o.arch]
	if !ok {
		errs = append(errs, fmt.Errorf("-arch: %q is not amd64, arm64 or armv7", o.arch))
	}
	if o.binDir == "" {
		errs = append(errs, errors.New("-bin: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	contents := packageContents(o.root, o.binDir)
	for _, c := range contents {
		if c.Source == "" {
			continue
		}
		if _, err := os.Stat(c.Source); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Destination, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	info := &nfpm.Info{
		Name:          packageName,
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    o.maintainer,
		Description:   description,
		Homepage:      homepage,
		Overridables: nfpm.Overridables{
			// groupadd and useradd, for the postinst.
			Depends:  []string{"passwd"},
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(o.root, "deploy/debian/postinst"),
				PreRemove:   filepath.Join(o.root, "deploy/debian/prerm"),
				PostRemove:  filepath.Join(o.root, "deploy/debian/postrm"),
			},
		},
	}
	return nfpm.WithDefaults(info), nil
}

// packageContents lists the package's files: binaries from binDir, the rest
// from the repository at root.
func packageContents(root, binDir string) files.Contents {
	src := func(p string) string { return filepath.Join(root, p) }
	mode := func(m os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: m}
	}
	doc := "/usr/share/doc/" + packageName + "/"
	return files.Contents{
		{Source: filepath.Join(binDir, "rollcall"), Destination: "/usr/bin/rollcall", FileInfo: mode(0o755)},
		{Source: filepath.Join(binDir, "fleetsim"), Destination: "/usr/bin/fleetsim", FileInfo: mode(0o755)},
		{Source: src("deploy/rollcall.service"), Destination: "/lib/systemd/system/rollcall.service", FileInfo: mode(0o644)},
		// root:root here; the postinst's statoverride makes it root:rollcall.
		{Destination: "/etc/rollcall", Type: files.TypeDir, FileInfo: mode(0o750)},
		// 0644 inside the 0750 directory: the service user reads them, others
		// cannot reach them.
		{Source: src("deploy/rollcall.yaml"), Destination: "/etc/rollcall/rollcall.yaml", Type: files.TypeConfig, FileInfo: mode(0o644)},
		{Source: src("deploy/devices.yaml.example"), Destination: "/etc/rollcall/devices.yaml.example", Type: files.TypeConfig, FileInfo: mode(0o644)},
		{Source: src("docs/deployment.md"), Destination: doc + "deployment.md", FileInfo: mode(0o644)},
		{Source: src("docs/configuration.md"), Destination: doc + "configuration.md", FileInfo: mode(0o644)},
		{Source: src("examples/rollcall.yaml"), Destination: doc + "examples/rollcall.yaml", FileInfo: mode(0o644)},
		{Source: src("examples/fleet.yaml"), Destination: doc + "examples/fleet.yaml", FileInfo: mode(0o644)},
	}
}

var (
	// v1.2.3, v1.2.3-rc.1, then what git describe appends.
	describeRE = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+)(-[0-9A-Za-z.]+)??(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)
	// an abbreviated commit, as --always prints it without a tag.
	commitRE = regexp.MustCompile(`^([0-9a-f]{4,40})(-dirty)?$`)
)

// debVersion turns `git describe --tags --always --dirty` output into a
// Debian version that sorts like the commits: v1.2.3 -> 1.2.3,
// v1.2.3-rc.1 -> 1.2.3~rc.1 (before 1.2.3), v1.2.3-4-gabc1234 ->
// 1.2.3+4.gabc1234 (after it), abc1234 (no tag) -> 0.0.0+gabc1234, each with
// .dirty appended for a dirty tree. The result has no hyphen (the package
// has no Debian revision).
func debVersion(describe string) (string, error) {
	if m := describeRE.FindStringSubmatch(describe); m != nil {
		v := m[1]
		if m[2] != "" {
			v += "~" + m[2][1:]
		}
		var extra []string
		if m[3] != "" {
			extra = append(extra, m[3], "g"+m[4])
		}
		if m[5] != "" {
			extra = append(extra, "dirty")
		}
		if len(extra) > 0 {
			v += "+" + strings.Join(extra, ".")
		}
		return v, nil
	}
	if m := commitRE.FindStringSubmatch(describe); m != nil {
		v := "0.0.0+g" + m[1]
		if m[2] != "" {
			v += ".dirty"
		}
		return v, nil
	}
	return "", fmt.Errorf("-version: %q is neither vX.Y.Z[-pre][-N-gCOMMIT][-dirty] nor a commit", describe)
}
