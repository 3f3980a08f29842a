package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rollcall-iot/rollcall/gateway"
)

// Exit codes of rollcall check, as promtool check config's for 0 and 1.
const (
	// checkOK: every file read and no problem found.
	checkOK = 0
	// checkProblems: at least one problem found.
	checkProblems = 1
	// checkUsage: a usage error, or a file named on the command line that
	// cannot be read.
	checkUsage = 2
)

const checkUsageText = `Usage: rollcall check [--config FILE] [--fleet FILE] [--devices-file FILE] [--print]

Validates a configuration file, a fleet file and a devices file
(broker.auth.devices_file) as rollcall serve would read them, without
starting anything. The fleet and devices files default to the ones the
configuration names; password and TLS files the configuration names are
read too. Each problem is printed on stdout as

  FILE:LINE: KEY: what is wrong

(unknown keys are problems). Environment variables (ROLLCALL_*) are not
applied. With --print, the resolved configuration (defaults filled in)
follows as YAML, with every password, token and bcrypt hash shown as
REDACTED.

Exit status: 0 when there are no problems, 1 when there are, 2 for a usage
error or a file named on the command line that cannot be read.

Flags:
`

// runCheck validates the files named by args and prints every problem.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rollcall check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(stderr, checkUsageText)
		fs.PrintDefaults()
	}
	var files gateway.CheckFiles
	fs.StringVar(&files.Config, "config", "", "YAML config `file`")
	fs.StringVar(&files.Fleet, "fleet", "", "fleet `file` (default: the config's fleet)")
	fs.StringVar(&files.DevicesFile, "devices-file", "", "devices `file` (default: the config's broker.auth.devices_file)")
	printCfg := fs.Bool("print", false, "print the resolved configuration, secrets redacted")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return checkOK
		}
		return checkUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rollcall check: unexpected arguments %q\n", fs.Args())
		return checkUsage
	}
	cfg, problems, err := gateway.Check(files, gateway.Defaults())
	if err != nil {
		fmt.Fprintln(stderr, "rollcall check:", err)
		return checkUsage
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if *printCfg {
		b, err := gateway.MarshalRedacted(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "rollcall check: print:", err)
			return checkUsage
		}
		if len(problems) > 0 {
			fmt.Fprintln(stdout, "---")
		}
		_, _ = stdout.Write(b)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "rollcall check: %d problem(s)\n", len(problems))
		return checkProblems
	}
	fmt.Fprintln(stderr, "rollcall check: ok")
	return checkOK
}
