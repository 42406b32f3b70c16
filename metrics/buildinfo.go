package metrics

import (
	"runtime"
	"runtime/debug"
)

// modulePath is the module this package belongs to, whose version
// fleare_manager_build_info reports.
const modulePath = "github.com/fleare-manager/fleare-manager"

// buildInfo is what fleare_manager_build_info reports.
type buildInfo struct {
	version   string // the module's version; "(devel)" for a build from a source tree
	revision  string // the VCS revision, "" when the build did not record it
	goVersion string // the Go version that built the program
}

// readBuildInfo reads the running program's build information: the
// version of this module, whether it is the main module (flearectl) or a
// dependency (a program that embeds the manager), and the VCS revision when
// it is the main module and the build recorded it.
func readBuildInfo() buildInfo {
	bi := buildInfo{version: "unknown", goVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return bi
	}
	if info.Main.Path != modulePath {
		for _, dep := range info.Deps {
			if dep.Path == modulePath {
				bi.version = dep.Version
				if dep.Replace != nil && dep.Replace.Version != "" {
					bi.version = dep.Replace.Version
				}
			}
		}
		return bi
	}
	bi.version = info.Main.Version
	if bi.version == "" {
		bi.version = "(devel)"
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			bi.revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && bi.revision != "" {
		bi.revision += "-dirty"
	}
	return bi
}
