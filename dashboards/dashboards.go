package dashboards

import (
	"fmt"
	"os"
	"path/filepath"
)

// Dir is the directory, relative to this package, that holds what Grafana
// needs: provisioning/ (datasources and the dashboard provider) and
// dashboards/ (the dashboard JSON files).
const Dir = "grafana"

// All returns every dashboard, in the order the documentation lists them.
func All() []*Dashboard { return []*Dashboard{Fleet(), Devices(), Pipeline()} }

// FileName is the name of d's JSON file in Dir/dashboards.
func FileName(d *Dashboard) string { return d.UID + ".json" }

// Write writes every dashboard's JSON to dir (Dir/dashboards).
func Write(dir string) error {
	for _, d := range All() {
		b, err := d.JSON()
		if err != nil {
			return fmt.Errorf("dashboard %s: %w", d.UID, err)
		}
		if err := os.WriteFile(filepath.Join(dir, FileName(d)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
