package gateway

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rollcall-iot/rollcall/ingest"
	"github.com/rollcall-iot/rollcall/staleness"
)

// Problem is one thing wrong with a configuration, fleet or devices file,
// as rollcall check reports it: the file, the line of the key (0 when the
// key is not in the file, e.g. a default that clashes with another
// setting), the key's dotted path and what is wrong. Messages never quote
// a secret.
type Problem struct {
	// File is the file's name as given.
	File string
	// Line is the 1-based line of Key in File; 0 when unknown.
	Line int
	// Key is the dotted path of the key (window.size,
	// broker.auth.users[0]); empty for the file as a whole.
	Key string
	// Msg says what is wrong.
	Msg string
}

// String formats p as FILE:LINE: KEY: MSG (LINE and KEY left out when
// unknown).
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// SortProblems orders problems by file, line and key. Check returns the
// config file's problems first, then the fleet file's, then the devices
// file's, each sorted.
func SortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Key, b.Key))
	})
}

// CheckFiles names the files rollcall check reads; an empty name is not
// read. Fleet and DevicesFile override the config's fleet and
// broker.auth.devices_file, which are checked when these are empty.
type CheckFiles struct {
	// Config is the YAML config file.
	Config string
	// Fleet is the fleet file.
	Fleet string
	// DevicesFile is the embedded broker's devices file.
	DevicesFile string
}

// Check reads the files as the gateway's start would, without starting
// anything: the config over base (usually Defaults()), as LoadFile does,
// validated with Validate; the fleet file, as staleness.LoadFleet does;
// the devices file, as ingest.LoadDevices does (password files and TLS
// files named in the config are read by Validate). It returns the resolved
// configuration and every problem with its key and line (unknown keys,
// values of the wrong type, failed validation; a file with a YAML syntax
// error yields that one problem). The error is only for a file named in
// files that cannot be read; a file the config names that cannot be read
// is a problem at its key.
func Check(files CheckFiles, base Config) (Config, []Problem, error) {
	cfg, idx := base, keyIndex{file: files.Config, lines: map[string]int{}, byLine: map[int]string{}}
	var problems []Problem
	if files.Config != "" {
		b, err := os.ReadFile(files.Config)
		if err != nil {
			return base, nil, fmt.Errorf("config: %w", err)
		}
		if idx, problems = parseIndex(files.Config, b); problems != nil {
			return base, problems, nil
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		problems = idx.decodeProblems(dec.Decode(&cfg))
	}
	if files.Fleet != "" {
		cfg.Fleet = files.Fleet
	}
	if files.DevicesFile != "" {
		cfg.Broker.Auth.DevicesFile = files.DevicesFile
	}
	cfg = cfg.WithDefaults()
	devices := cfg.Broker.Auth.DevicesFile
	for _, p := range idx.validationProblems(cfg.Validate()) {
		// The devices file is checked on its own, line by line: leave out
		// what Validate says of it (each line names the file).
		if devices == "" || !strings.HasPrefix(p.Key, "broker.auth.devices_file") && !strings.Contains(p.Key+": "+p.Msg, devices+": ") {
			problems = append(problems, p)
		}
	}
	SortProblems(problems)
	for _, f := range []struct {
		name, key, flag string
		check           func(string) ([]Problem, error)
	}{
		{cfg.Fleet, "fleet", files.Fleet, CheckFleet},
		{devices, "broker.auth.devices_file", files.DevicesFile, func(name string) ([]Problem, error) {
			return CheckDevices(name, cfg.Broker.TLS.ClientCAFile != "")
		}},
	} {
		if f.name == "" {
			continue
		}
		ps, err := f.check(f.name)
		switch {
		case err != nil && f.flag != "":
			return cfg, problems, err
		case err != nil:
			problems = append(problems, Problem{File: idx.file, Line: idx.lines[f.key], Key: f.key, Msg: err.Error()})
		}
		problems = append(problems, ps...)
	}
	return cfg, problems, nil
}

// CheckFleet reads and validates a fleet file as the gateway's start does
// (staleness.ParseFleet), with each problem's key and line. The error is
// only for a file that cannot be read.
func CheckFleet(name string) ([]Problem, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("fleet file: %w", err)
	}
	idx, problems := parseIndex(name, b)
	if problems != nil {
		return problems, nil
	}
	var f staleness.Fleet
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// Unknown keys and wrong types leave the rest decoded: validate it too.
	problems = idx.decodeProblems(dec.Decode(&f))
	problems = append(problems, idx.validationProblems(f.Validate())...)
	SortProblems(problems)
	return problems, nil
}

// CheckDevices reads a devices file (broker.auth.devices_file) as the
// embedded broker does (ingest.LoadDevices), with each problem's identity
// and line; certOnly allows empty hashes (client certificates). No
// problem quotes a hash. The error is only for a file that cannot be read.
func CheckDevices(name string, certOnly bool) ([]Problem, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	idx, problems := parseIndex(name, b)
	if problems != nil {
		return problems, nil
	}
	_, err = ingest.LoadDevices(name, certOnly)
	if err == nil {
		return nil, nil
	}
	// LoadDevices prefixes each line with the file name; the rest is
	// "identity "ID" is not ..." or "ID: not a bcrypt hash".
	var out []Problem
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimPrefix(l, name+": ")
		if m := quotedIdentity.FindStringSubmatch(l); m != nil {
			id, _ := strconv.Unquote(m[1])
			out = append(out, Problem{File: name, Line: idx.lines[id], Key: id, Msg: l})
			continue
		}
		id, msg, _ := strings.Cut(l, ": ")
		if line, ok := idx.lines[id]; ok {
			out = append(out, Problem{File: name, Line: line, Key: id, Msg: msg})
			continue
		}
		out = append(out, Problem{File: name, Msg: l})
	}
	SortProblems(out)
	return out, nil
}

// quotedIdentity finds the identity LoadDevices quotes when it is not
// {site}/{device}.
var quotedIdentity = regexp.MustCompile(`^identity ("(?:[^"\\]|\\.)*")`)

// keyIndex maps the dotted key paths of one YAML file to the lines of
// their keys, and lines back to paths.
type keyIndex struct {
	file   string
	lines  map[string]int
	byLine map[int]string
}

// parseIndex parses b into a node tree and indexes its keys. A syntax
// error comes back as the file's only problem.
func parseIndex(name string, b []byte) (keyIndex, []Problem) {
	idx := keyIndex{file: name, lines: map[string]int{}, byLine: map[int]string{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return idx, []Problem{idx.yamlProblem(strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	if len(doc.Content) > 0 {
		idx.add(doc.Content[0], "")
	}
	return idx, nil
}

// add indexes the keys under n, a node at path.
func (idx keyIndex) add(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			idx.lines[p] = k.Line
			if _, ok := idx.byLine[k.Line]; !ok {
				idx.byLine[k.Line] = p
			}
			idx.add(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			idx.lines[p] = c.Line
			if _, ok := idx.byLine[c.Line]; !ok {
				idx.byLine[c.Line] = p
			}
			idx.add(c, p)
		}
	}
}

// yamlLine matches the "line N: " yaml.v3 puts before each error.
var yamlLine = regexp.MustCompile(`^\s*line (\d+): (.*)$`)

// unknownField matches yaml.v3's complaint about a key no field takes.
var unknownField = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

// yamlProblem turns one yaml.v3 error line into a problem at its line and
// the key on that line.
func (idx keyIndex) yamlProblem(l string) Problem {
	m := yamlLine.FindStringSubmatch(l)
	if m == nil {
		return Problem{File: idx.file, Msg: l}
	}
	line, _ := strconv.Atoi(m[1])
	p := Problem{File: idx.file, Line: line, Key: idx.byLine[line], Msg: m[2]}
	if u := unknownField.FindStringSubmatch(m[2]); u != nil {
		p.Msg = "unknown key " + strconv.Quote(u[1])
	}
	return p
}

// decodeProblems turns a yaml.v3 decode error (a *yaml.TypeError lists
// every unknown key and wrong type) into problems.
func (idx keyIndex) decodeProblems(err error) []Problem {
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []Problem{idx.yamlProblem(strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	out := make([]Problem, 0, len(te.Errors))
	for _, e := range te.Errors {
		out = append(out, idx.yamlProblem(e))
	}
	return out
}

// validationProblems splits a joined Validate error into one problem per
// line, each attributed to the key its message starts with.
func (idx keyIndex) validationProblems(err error) []Problem {
	if err == nil {
		return nil
	}
	var out []Problem
	for _, l := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, idx.problem(l))
		}
	}
	return out
}

// problem attributes a "key: message" line to the longest prefix of key
// found in the file. A key the file does not set keeps its full name and
// line 0.
func (idx keyIndex) problem(l string) Problem {
	head, msg, ok := strings.Cut(l, ": ")
	// "broker.auth.users[0] (name)" names the entry and, in brackets, who
	// it is; "mqtt.password and mqtt.password_file" two keys.
	key, _, _ := strings.Cut(head, " ")
	if !ok || !keyPath.MatchString(key) {
		return Problem{File: idx.file, Msg: l}
	}
	for p := key; p != ""; p = parentKey(p) {
		if line, ok := idx.lines[p]; ok {
			return Problem{File: idx.file, Line: line, Key: head, Msg: msg}
		}
	}
	return Problem{File: idx.file, Key: head, Msg: msg}
}

// keyPath matches a dotted key path.
var keyPath = regexp.MustCompile(`^[A-Za-z0-9_-]+(?:[.][A-Za-z0-9_/-]+|\[\d+\])*$`)

// parentKey drops the last element of a dotted key path ("a.b[2]" → "a.b",
// "a.b" → "a", "a" → "").
func parentKey(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// secretKeys are the config keys whose values MarshalRedacted hides.
var secretKeys = map[string]bool{"password": true, "password_hash": true, "token": true}

// MarshalRedacted returns cfg as YAML with the value of every password,
// password_hash and token key, and every string that is a bcrypt hash,
// shown as ingest.Redacted (empty values stay empty).
func MarshalRedacted(cfg Config) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(cfg); err != nil {
		return nil, fmt.Errorf("gateway: config: %w", err)
	}
	redact(&n, false)
	b, err := yaml.Marshal(&n)
	if err != nil {
		return nil, fmt.Errorf("gateway: config: %w", err)
	}
	return b, nil
}

// redact hides secret scalars under n; secret says n is a secret key's value.
func redact(n *yaml.Node, secret bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "" && (secret || isBcrypt(n.Value)) {
			n.Value, n.Tag, n.Style = ingest.Redacted, "!!str", 0
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redact(n.Content[i+1], secret || secretKeys[n.Content[i].Value])
		}
	default:
		for _, c := range n.Content {
			redact(c, secret)
		}
	}
}

// isBcrypt reports whether s looks like a bcrypt hash ($2a$, $2b$, $2y$).
func isBcrypt(s string) bool {
	return len(s) > 4 && s[0] == '$' && s[1] == '2' && strings.Contains("aby", s[2:3]) && s[3] == '$'
}
