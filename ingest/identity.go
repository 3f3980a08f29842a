package ingest

import "strings"

// ID returns a device's fleet-wide identity: the topic template's
// placeholders joined by '/', site first (DESIGN.md § Identity and
// security). Device names repeat across sites in real fleets (WTG01 at
// every site), so site-a/wt-01 and site-b/wt-01 are two devices in every
// stage, store and interface. Neither level may contain '/' (see IDChars),
// so SplitID inverts ID.
func ID(site, name string) string { return site + "/" + name }

// SplitID splits an identity made by ID into its site and name. An id
// without '/' (a bare name, as journals and checkpoints written before
// identities held it) has an empty site.
func SplitID(id string) (site, name string) {
	if i := strings.IndexByte(id, '/'); i >= 0 {
		return id[:i], id[i+1:]
	}
	return "", id
}
