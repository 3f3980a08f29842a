package gateway

import (
	"errors"
	"fmt"

	"github.com/rollcall-iot/rollcall/ingest"
)

// Roles: Config.Role.
const (
	// RoleGateway is a gateway: devices over MQTT, partials upstream.
	RoleGateway = "gateway"
	// RoleCentral is the federation tier over gateways' partials.
	RoleCentral = "central"
)

// brokerConfig is the embedded broker's section with what the rest of the
// configuration decides: topics, and with federation.upstream the leaf-node
// link and the JetStream domain named by the gateway id.
func (c Config) brokerConfig() ingest.BrokerConfig {
	b := c.Broker
	b.TelemetryTopic, b.StatusTopic = c.Topics.Telemetry, c.Topics.Status
	b.Sparkplug = c.Topics.SparkplugOn()
	if c.Federation.Upstream != "" {
		id := c.natsConfig().GatewayID
		b.Upstream, b.Domain = c.Federation.Leaf(), id
		if b.ServerName == "" || b.ServerName == ingest.DefaultServerName {
			b.ServerName = id // a hub tells its leaf servers apart by name
		}
	}
	return b
}

// validateFederation checks the role and the federation section.
func (c Config) validateFederation() error {
	var errs []error
	switch c.Role {
	case RoleGateway:
		if c.Federation.Upstream != "" {
			if !c.Embedded() {
				errs = append(errs, errors.New("federation.upstream: needs the embedded broker; with mqtt.url, set nats.url to a NATS server that is itself a leaf node of the hub"))
			}
			if id := c.natsConfig().GatewayID; !ingest.ValidDomain(id) {
				errs = append(errs, fmt.Errorf("nats.gateway_id: %q names the gateway's JetStream domain: 1 to 128 ASCII letters, digits, '-' or '_' (set nats.gateway_id or --mqtt-client-id)", id))
			}
		}
	case RoleCentral:
		if c.Federation.Upstream != "" {
			errs = append(errs, errors.New("federation.upstream: a central tier has no upstream"))
		}
		if c.NATS.Enabled {
			errs = append(errs, errors.New("nats.enabled: a central tier does not publish partials"))
		}
		errs = append(errs, c.Federation.Validate())
	default:
		errs = append(errs, fmt.Errorf("role: %q is not gateway or central", c.Role))
	}
	return errors.Join(errs...)
}
