package federation

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rollcall-iot/rollcall/ingest"
)

// Hub is the central tier's embedded nats-server: JetStream in the
// central domain, a leaf-node listener for the gateways and a client
// listener on loopback for the central tier itself.
type Hub struct {
	srv *server.Server
}

// HubConfig configures NewHub.
type HubConfig struct {
	// LeafListen is the leaf-node listen address (port 0: a free one).
	LeafListen string
	// ClientListen is the NATS client listen address; default
	// 127.0.0.1:0.
	ClientListen string
	// StoreDir is the JetStream store directory. Required.
	StoreDir string
	// Domain is the hub's JetStream domain.
	Domain string
	// ServerName is the server's name. Default: "rollcall-central".
	ServerName string
}

// NewHub starts the hub and returns once it accepts connections.
func NewHub(cfg HubConfig, log *slog.Logger) (*Hub, error) {
	if cfg.ClientListen == "" {
		cfg.ClientListen = "127.0.0.1:0"
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "rollcall-central"
	}
	lh, lp, err := hostPort(cfg.LeafListen)
	if err != nil {
		return nil, fmt.Errorf("federation: leaf_listen: %w", err)
	}
	ch, cp, err := hostPort(cfg.ClientListen)
	if err != nil {
		return nil, fmt.Errorf("federation: client listen: %w", err)
	}
	opts := &server.Options{
		ServerName:      cfg.ServerName,
		Host:            ch,
		Port:            cp,
		NoSigs:          true,
		JetStream:       true,
		JetStreamDomain: cfg.Domain,
		StoreDir:        cfg.StoreDir,
		// One server: nothing to advertise, and leaf nodes keep dialling the
		// configured URL (a proxy or load balancer in front of the hub).
		LeafNode: server.LeafNodeOpts{Host: lh, Port: lp, NoAdvertise: true},
	}
	srv, err := ingest.StartServer(opts, log)
	if err != nil {
		return nil, fmt.Errorf("federation: start hub: %w", err)
	}
	return &Hub{srv: srv}, nil
}

// hostPort splits addr; port 0 becomes nats-server's "random" (-1).
func hostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number in [0, 65535]", p)
	}
	if port == 0 {
		port = -1
	}
	return h, port, nil
}

// ClientURL returns the nats:// URL of the client listener.
func (h *Hub) ClientURL() string { return h.srv.ClientURL() }

// LeafAddr returns the leaf-node listener's host:port, with the actual
// port.
func (h *Hub) LeafAddr() string {
	vz, err := h.srv.Varz(nil)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(vz.LeafNode.Host, strconv.Itoa(vz.LeafNode.Port))
}

// LeafNodes returns how many leaf nodes are connected.
func (h *Hub) LeafNodes() int { return h.srv.NumLeafNodes() }

// Shutdown stops the hub and waits for it.
func (h *Hub) Shutdown() {
	h.srv.Shutdown()
	h.srv.WaitForShutdown()
}
