package ingest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// Secret is a string that never appears in logs, errors or printed
// configuration: its String, GoString, LogValue, MarshalJSON and
// MarshalYAML say "REDACTED" (empty stays empty). Use string(s) where the
// value itself is needed.
type Secret string

// Redacted is what a non-empty Secret prints as.
const Redacted = "REDACTED"

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// BrokerAuth configures who may connect to the embedded broker's MQTT
// listener. Empty (no devices file, no users, no client CA): anonymous
// clients, allowed only on loopback unless broker.allow_anonymous.
type BrokerAuth struct {
	// DevicesFile is a YAML map from device identity ({site}/{device},
	// e.g. site-a/wt-01) to the bcrypt hash of its password (see rollcall
	// passwd). A device connects with username = its identity and may
	// publish only on its own telemetry and status topics. With
	// broker.tls.client_ca_file the hash may be empty: the device then
	// authenticates with a client certificate whose subject is
	// CN=<identity>. Default: none.
	DevicesFile string `yaml:"devices_file"`
	// Users are other clients (a monitoring tool, a second subscriber)
	// with explicit permissions. Default: none.
	Users []BrokerUser `yaml:"users"`
}

// BrokerUser is a non-device MQTT client of the embedded broker.
type BrokerUser struct {
	// Name is the MQTT username (with client certificates: the subject
	// CN=<name>).
	Name string `yaml:"name"`
	// PasswordHash is the bcrypt hash of the password (rollcall passwd).
	PasswordHash Secret `yaml:"password_hash"`
	// Subscribe lists the MQTT topic filters the user may subscribe to
	// (e.g. fleet/#). Default: none.
	Subscribe []string `yaml:"subscribe"`
	// Publish lists the MQTT topic filters the user may publish on.
	// Default: none.
	Publish []string `yaml:"publish"`
}

// configured reports whether any authentication is configured.
func (a BrokerAuth) configured() bool { return a.DevicesFile != "" || len(a.Users) > 0 }

// mqttOnly is the connection type a broker user is limited to: broker
// users are MQTT clients, never NATS or websocket ones.
func mqttOnly() map[string]struct{} { return map[string]struct{}{"MQTT": {}} }

// LoadDevices reads a devices file: a YAML map from identity to bcrypt
// hash. An empty hash is allowed only when certOnly (client certificates).
// Errors never quote a hash.
func LoadDevices(name string, certOnly bool) (map[string]Secret, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var raw map[string]string
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		// yaml errors quote at most a line number and a type, never a value.
		return nil, fmt.Errorf("%s: not a map of identity to bcrypt hash: %s", name, strings.ReplaceAll(err.Error(), "\n", ";"))
	}
	var errs []error
	devices := make(map[string]Secret, len(raw))
	for id, hash := range raw {
		site, device, ok := strings.Cut(id, "/")
		if !ok || !validID(site) || !validID(device) {
			errs = append(errs, fmt.Errorf("%s: identity %q is not {site}/{device} (each %s, 1 to %d bytes)", name, id, IDChars, MaxIDLen))
			continue
		}
		if err := checkHash(hash, certOnly); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", name, id, err))
			continue
		}
		devices[id] = Secret(hash)
	}
	return devices, errors.Join(errs...)
}

// checkHash checks that hash is a bcrypt hash, without quoting it.
func checkHash(hash string, certOnly bool) error {
	if hash == "" && certOnly {
		return nil
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return errors.New("not a bcrypt hash (make one with rollcall passwd)")
	}
	return nil
}

// topicFilterToSubject converts an MQTT topic filter to the NATS subject
// nats-server checks permissions against: '/' separates tokens, '+' is '*'
// and a trailing '#' is '>' (which, unlike MQTT's '#', needs one level: the
// filter's parent is added too). Filters with characters nats-server maps
// specially ('.', a leading, trailing or doubled '/', white space) are
// refused rather than approximated.
func topicFilterToSubject(filter string) ([]string, error) {
	if filter == "" || strings.ContainsAny(filter, ". \t\r\n\f") || strings.HasPrefix(filter, "/") ||
		strings.HasSuffix(filter, "/") || strings.Contains(filter, "//") {
		return nil, fmt.Errorf("topic filter %q: empty, or has '.', white space or an empty level", filter)
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "+":
			levels[i] = "*"
		case l == "#" && i == len(levels)-1:
			levels[i] = ">"
		case strings.ContainsAny(l, "+#"):
			return nil, fmt.Errorf("topic filter %q: '+' and '#' must be whole levels, '#' the last", filter)
		}
	}
	subjects := []string{strings.Join(levels, ".")}
	if levels[len(levels)-1] == ">" && len(levels) > 1 {
		subjects = append(subjects, strings.Join(levels[:len(levels)-1], "."))
	}
	return subjects, nil
}

// sparkplugSubjects returns the NATS subjects of the Sparkplug filters:
// nats-server maps '.' in an MQTT topic to "//" (spBv1.0 is spBv1//0), which
// topicFilterToSubject refuses for the templates.
func sparkplugSubjects(topics *Topics) []string {
	var out []string
	for _, f := range topics.SparkplugFilters() {
		rest := strings.TrimPrefix(f, SparkplugNamespace+"/")
		subj := strings.ReplaceAll(SparkplugNamespace, ".", "//") + "." + strings.ReplaceAll(rest, "/", ".")
		subj = strings.ReplaceAll(strings.ReplaceAll(subj, "+", "*"), "#", ">")
		// A '#' filter also matches its parent level, as in
		// topicFilterToSubject.
		out = append(out, subj, strings.TrimSuffix(subj, ".>"))
	}
	return out
}

// filtersToSubjects converts topic filters (see topicFilterToSubject).
func filtersToSubjects(filters []string) ([]string, error) {
	var out []string
	var errs []error
	for _, f := range filters {
		s, err := topicFilterToSubject(f)
		errs = append(errs, err)
		out = append(out, s...)
	}
	return out, errors.Join(errs...)
}

// permissions allows publishing on pub and subscribing to sub (NATS
// subjects) and nothing else.
func permissions(pub, sub []string) *server.Permissions {
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
	// An empty allow list would allow everything: deny everything instead.
	if len(pub) == 0 {
		p.Publish = &server.SubjectPermission{Deny: []string{">"}}
	}
	if len(sub) == 0 {
		p.Subscribe = &server.SubjectPermission{Deny: []string{">"}}
	}
	return p
}

// deviceSubjects returns the NATS subjects of a device's telemetry and
// status topics and, with Sparkplug on, those of the Sparkplug edge node
// of the same identity (group/edge: its node and device messages).
func deviceSubjects(topics *Topics, id string) ([]string, error) {
	site, device, _ := strings.Cut(id, "/")
	var out []string
	for _, k := range []TopicKind{TopicTelemetry, TopicStatus} {
		s, err := topicFilterToSubject(topics.Topic(k, site, device))
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", id, err)
		}
		out = append(out, s[0])
	}
	if topics.Sparkplug() && strings.IndexByte(device, SparkplugNodeSep) < 0 {
		ns := strings.ReplaceAll(SparkplugNamespace, ".", "//")
		for _, tp := range sparkplugTypes {
			subj := ns + "." + site + "." + tp.name + "." + device
			if tp.device {
				subj += ".*"
			}
			out = append(out, subj)
		}
	}
	return out, nil
}

// brokerUsers builds nats-server's users: one per device (publish on its
// own topics only), one per configured user, rollcall's own subscriber
// (subscribe on the telemetry and status filters), and with certificates
// a CN=<name> twin of each, which verify_and_map selects.
func brokerUsers(cfg BrokerConfig, topics *Topics, internal internalUser) ([]*server.User, error) {
	certs := cfg.TLS.ClientCAFile != ""
	var devices map[string]Secret
	if cfg.Auth.DevicesFile != "" {
		var err error
		if devices, err = LoadDevices(cfg.Auth.DevicesFile, certs); err != nil {
			return nil, fmt.Errorf("auth.devices_file: %w", err)
		}
	}
	var users []*server.User
	// With client certificates (verify_and_map) every MQTT client is
	// mapped from its certificate's subject, so only CN=<name> users exist.
	add := func(name string, hash Secret, perms *server.Permissions) {
		u := &server.User{Username: name, Password: string(hash), Permissions: perms, AllowedConnectionTypes: mqttOnly()}
		if certs {
			u.Username, u.Password = "CN="+name, ""
		}
		users = append(users, u)
	}
	ids := make([]string, 0, len(devices))
	for id := range devices {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		pub, err := deviceSubjects(topics, id)
		if err != nil {
			return nil, fmt.Errorf("auth.devices_file: %w", err)
		}
		add(id, devices[id], permissions(pub, nil))
	}
	var errs []error
	for i, u := range cfg.Auth.Users {
		pub, err1 := filtersToSubjects(u.Publish)
		sub, err2 := filtersToSubjects(u.Subscribe)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("auth.users[%d] (%s): %w", i, u.Name, err))
			continue
		}
		add(u.Name, u.PasswordHash, permissions(pub, sub))
	}
	tel, st := topics.Filters()
	sub, err := filtersToSubjects([]string{tel, st})
	sub = append(sub, sparkplugSubjects(topics)...)
	if err != nil {
		errs = append(errs, fmt.Errorf("topics: %w", err))
	}
	add(internal.name, Secret(internal.hash), permissions(nil, sub))
	return users, errors.Join(errs...)
}

// validateUsers checks broker.auth.users without starting anything.
func validateUsers(users []BrokerUser, certs bool) error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range users {
		key := fmt.Sprintf("auth.users[%d]", i)
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n,="):
			errs = append(errs, fmt.Errorf("%s.name: %q is empty or has white space, ',' or '='", key, u.Name))
		case strings.HasPrefix(u.Name, internalUserName) || u.Name == natsUserName:
			errs = append(errs, fmt.Errorf("%s.name: %q is rollcall's own", key, u.Name))
		case seen[u.Name]:
			errs = append(errs, fmt.Errorf("%s.name: %q appears twice", key, u.Name))
		}
		seen[u.Name] = true
		if err := checkHash(string(u.PasswordHash), certs); err != nil {
			errs = append(errs, fmt.Errorf("%s.password_hash: %w", key, err))
		}
		if _, err := filtersToSubjects(u.Subscribe); err != nil {
			errs = append(errs, fmt.Errorf("%s.subscribe: %w", key, err))
		}
		if _, err := filtersToSubjects(u.Publish); err != nil {
			errs = append(errs, fmt.Errorf("%s.publish: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// Names of rollcall's own users of the embedded broker.
const (
	// internalUserName starts the name of rollcall's own MQTT subscriber.
	internalUserName = "rollcall-internal"
	// natsUserName is the user of clients of the NATS listener (the nats
	// sink, federation), which broker.auth does not cover.
	natsUserName = "rollcall-nats"
)

// internalUser is rollcall's own subscriber on the embedded broker, with a
// random password made at every start and never logged.
type internalUser struct {
	name     string
	password Secret
	hash     string
}

// newInternalUser makes the subscriber's credentials. The hash uses the
// minimum bcrypt cost: the password is random (128 bits), so the cost adds
// nothing, and nats-server warns about passwords that are not hashed.
func newInternalUser() (internalUser, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return internalUser{}, err
	}
	pw := hex.EncodeToString(b[:])
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		return internalUser{}, err
	}
	// The name is random too: with client certificates it is the subject
	// of rollcall's own certificate, which no other CA may then issue.
	if _, err := rand.Read(b[:8]); err != nil {
		return internalUser{}, err
	}
	name := internalUserName + "-" + hex.EncodeToString(b[:8])
	return internalUser{name: name, password: Secret(pw), hash: string(hash)}, nil
}
