package ingest

import (
	"errors"
	"fmt"
	"strings"
)

// This file recognises the Sparkplug B topic namespace (Eclipse Sparkplug
// 3.0, chapter 4) beside the JSON templates, so that one gateway takes a
// mixed fleet. The payloads are decoded by package ingest/sparkplug.

// Sparkplug topic kinds: one per message type rollcall consumes. A Message
// of one of these kinds carries the raw protobuf payload.
const (
	// TopicSpNBirth is an edge node's birth certificate (NBIRTH).
	TopicSpNBirth TopicKind = iota + 16
	// TopicSpNDeath is an edge node's death certificate (NDEATH), usually
	// its MQTT Last Will.
	TopicSpNDeath
	// TopicSpNData is an edge node's own data (NDATA).
	TopicSpNData
	// TopicSpDBirth is a device's birth certificate (DBIRTH).
	TopicSpDBirth
	// TopicSpDDeath is a device's death certificate (DDEATH).
	TopicSpDDeath
	// TopicSpDData is a device's data (DDATA).
	TopicSpDData
)

// SparkplugNamespace is the first topic level of Sparkplug B 3.0.
const SparkplugNamespace = "spBv1.0"

// SparkplugNodeSep joins an edge node id and a device id into the name
// level of a device's identity: spBv1.0/plant/DDATA/edge1/pump-1 is the
// device plant/edge1:pump-1 (identities have exactly two levels, see ID,
// so the third Sparkplug level joins the second with this byte, which an
// edge node id must therefore not contain).
const SparkplugNodeSep = ':'

// sparkplugTypes maps the type level of a topic to its kind; the bool says
// whether the topic has a device level.
var sparkplugTypes = [...]struct {
	name   string
	kind   TopicKind
	device bool
}{
	{"NBIRTH", TopicSpNBirth, false},
	{"NDEATH", TopicSpNDeath, false},
	{"NDATA", TopicSpNData, false},
	{"DBIRTH", TopicSpDBirth, true},
	{"DDEATH", TopicSpDDeath, true},
	{"DDATA", TopicSpDData, true},
}

// IsSparkplug reports whether k is a Sparkplug kind.
func (k TopicKind) IsSparkplug() bool { return k >= TopicSpNBirth && k <= TopicSpDData }

// sparkplugName returns the Sparkplug message type of k ("NBIRTH"...), or "".
func (k TopicKind) sparkplugName() string {
	for _, t := range sparkplugTypes {
		if t.kind == k {
			return t.name
		}
	}
	return ""
}

// SparkplugFilters returns the MQTT subscription filter of the Sparkplug
// namespace, spBv1.0/#, or nil when Sparkplug is off (see WithSparkplug).
// One filter, not one per message type: a broker keeps a publisher's order
// within a subscription only (nats-server gives each QoS 1 subscription a
// consumer of its own), and an edge node's DATA must not overtake its
// BIRTH. Commands and host STATE messages it also brings are ignored
// (ErrSparkplugIgnored).
func (t *Topics) SparkplugFilters() []string {
	if !t.sparkplug {
		return nil
	}
	return []string{SparkplugNamespace + "/#"}
}

// ErrSparkplugIgnored is returned by Topics.Parse for the Sparkplug
// messages rollcall does not consume: commands (NCMD, DCMD) and host
// application STATE. The subscriber acknowledges and drops them without a
// reject: a passive host sees them because it subscribes to the namespace.
var ErrSparkplugIgnored = errors.New("ingest: sparkplug command or state message, not consumed")

// WithSparkplug returns a copy of t that also recognises (on) the
// Sparkplug B namespace, or does not.
func (t *Topics) WithSparkplug(on bool) *Topics {
	c := *t
	c.sparkplug = on
	return &c
}

// Sparkplug reports whether t recognises the Sparkplug B namespace.
func (t *Topics) Sparkplug() bool { return t.sparkplug }

// parseSparkplug parses spBv1.0/{group_id}/{type}/{edge_node_id}[/{device_id}]
// (topic without its "spBv1.0/" prefix in rest): site is the group id,
// device the identity group/edge (node messages) or group/edge:device.
func parseSparkplug(topic, rest string) (kind TopicKind, site, device string, err error) {
	parts := strings.Split(rest, "/")
	if len(parts) >= 1 && parts[0] == "STATE" {
		return 0, "", "", ErrSparkplugIgnored
	}
	if len(parts) < 3 || len(parts) > 4 {
		return 0, "", "", reject(ReasonBadTopic, fmt.Sprintf("sparkplug topic %s: want %s/{group_id}/{type}/{edge_node_id}[/{device_id}]",
			quoteTrunc(topic, 256), SparkplugNamespace))
	}
	group, typ, edge := parts[0], parts[1], parts[2]
	if group == "STATE" || typ == "NCMD" || typ == "DCMD" {
		return 0, "", "", ErrSparkplugIgnored
	}
	for _, tp := range sparkplugTypes {
		if tp.name != typ {
			continue
		}
		if tp.device != (len(parts) == 4) {
			return 0, "", "", reject(ReasonBadTopic, fmt.Sprintf("sparkplug topic %s: %s %s a device level",
				quoteTrunc(topic, 256), typ, map[bool]string{true: "needs", false: "has no"}[tp.device]))
		}
		problem := idProblem("group_id", group)
		if problem == "" {
			problem = idProblem("edge_node_id", edge)
		}
		if problem == "" && strings.IndexByte(edge, SparkplugNodeSep) >= 0 {
			problem = fmt.Sprintf("edge_node_id %s holds %q, which joins it to device ids", quoteTrunc(edge, 64), SparkplugNodeSep)
		}
		name := edge
		if problem == "" && tp.device {
			problem = idProblem("device_id", parts[3])
			name = edge + string(SparkplugNodeSep) + parts[3]
		}
		if problem == "" && len(name) > MaxIDLen {
			problem = fmt.Sprintf("edge_node_id:device_id is %d bytes, longer than %d", len(name), MaxIDLen)
		}
		if problem != "" {
			return 0, "", "", reject(ReasonBadTopic, fmt.Sprintf("sparkplug topic %s: %s", quoteTrunc(topic, 256), problem))
		}
		if !tp.device {
			// group/edge is a substring of the topic only with the type
			// level between them; build it.
			return tp.kind, group, ID(group, edge), nil
		}
		return tp.kind, group, ID(group, name), nil
	}
	return 0, "", "", reject(ReasonBadTopic, fmt.Sprintf("sparkplug topic %s: message type %s is not consumed (NBIRTH, NDEATH, NDATA, DBIRTH, DDEATH, DDATA)",
		quoteTrunc(topic, 256), quoteTrunc(typ, 32)))
}

// SparkplugNode returns the identity of the edge node of a Sparkplug
// identity (group/edge or group/edge:device): group/edge. Every message of
// an edge node and its devices is routed to one worker by it, because the
// node's sequence numbers, aliases and session span its devices. For a
// JSON identity it returns the identity up to its first SparkplugNodeSep,
// which routes as consistently.
func SparkplugNode(id string) string {
	if i := strings.IndexByte(id, SparkplugNodeSep); i >= 0 {
		return id[:i]
	}
	return id
}
