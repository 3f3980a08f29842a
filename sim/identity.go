package sim

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DeviceID returns the fleet-wide identity of device name at site: the
// topic template's placeholders joined by '/' (DESIGN.md § Wire format), so
// that wt-01 at site-a and wt-01 at site-b are two devices.
func DeviceID(site, name string) string { return site + "/" + name }

// fleetIndex finds a device's fleet position by its identity (site/name) or,
// when the name is unique in the fleet, by its bare name: scenario files
// written before names could repeat across sites keep working.
type fleetIndex struct {
	byID   map[string]int
	byName map[string]int // -1 when the name is used at several sites
}

func newFleetIndex(groups []Group) fleetIndex {
	x := fleetIndex{byID: map[string]int{}, byName: map[string]int{}}
	for _, g := range groups {
		for _, name := range g.Devices {
			i := len(x.byID)
			x.byID[DeviceID(g.Name, name)] = i
			if _, dup := x.byName[name]; dup {
				x.byName[name] = -1
			} else {
				x.byName[name] = i
			}
		}
	}
	return x
}

// lookup returns the fleet position of ref (an identity or a unique bare
// name), or an error saying why there is none.
func (x fleetIndex) lookup(ref string) (int, error) {
	if i, ok := x.byID[ref]; ok {
		return i, nil
	}
	if !strings.Contains(ref, "/") {
		switch i, ok := x.byName[ref]; {
		case ok && i >= 0:
			return i, nil
		case ok:
			return -1, fmt.Errorf("%q names a device at several sites; write site/%s", ref, ref)
		}
	}
	return -1, fmt.Errorf("%q is not in the fleet", ref)
}

func (x fleetIndex) len() int { return len(x.byID) }

// LoadDevicePasswords reads a YAML map from device identity to password
// (plain text: the simulated devices' side of a broker's devices file) for
// Config.DevicePasswords.
func LoadDevicePasswords(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sim: device passwords: %w", err)
	}
	var m map[string]string
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("sim: device passwords %s: %w", path, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("sim: device passwords %s: no devices", path)
	}
	return m, nil
}
