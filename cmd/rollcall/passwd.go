package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// DefaultBcryptCost is the cost of the hashes rollcall passwd prints.
const DefaultBcryptCost = 11

const passwdUsage = `Usage: rollcall passwd [--cost N] < password

Reads one password line on stdin and prints its bcrypt hash, for
broker.auth.devices_file and broker.auth.users[].password_hash. Example:

  printf '%s\n' "$PASSWORD" | rollcall passwd

Flags:
`

// runPasswd reads a password line from stdin and prints its bcrypt hash.
// The password is never echoed or logged.
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rollcall passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(stderr, passwdUsage)
		fs.PrintDefaults()
	}
	cost := fs.Int("cost", DefaultBcryptCost, fmt.Sprintf("bcrypt `cost` (%d to %d)", bcrypt.MinCost, bcrypt.MaxCost))
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fmt.Fprintf(stderr, "rollcall passwd: want no arguments and --cost between %d and %d\n", bcrypt.MinCost, bcrypt.MaxCost)
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "rollcall passwd: read stdin:", err)
		return 1
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if pw == "" {
		fmt.Fprintln(stderr, "rollcall passwd: empty password on stdin")
		return 1
	}
	// bcrypt uses at most 72 bytes; a longer password would be cut silently.
	if len(pw) > 72 {
		fmt.Fprintln(stderr, "rollcall passwd: password longer than 72 bytes (bcrypt's limit)")
		return 1
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		fmt.Fprintln(stderr, "rollcall passwd:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(hash))
	return 0
}
