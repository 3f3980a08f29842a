package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rollcall-iot/rollcall/dashboards"
)

func main() {
	dir := filepath.Join(dashboards.Dir, "dashboards")
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := dashboards.Write(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
