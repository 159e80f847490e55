package main

import (
	"runtime"
	"runtime/debug"
)

// Versions names the Istio this program was built from: the istio.io/istio module's
// pseudo-version and the istio.io/api version it pulls in.
type Versions struct {
	Istio string `json:"istio"`
	API   string `json:"api"`
	Go    string `json:"go"`
}

// BuildVersions reads them from the binary's own build information.
func BuildVersions() Versions {
	versions := Versions{Istio: "unknown", API: "unknown", Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return versions
	}
	for _, module := range info.Deps {
		version := module.Version
		if module.Replace != nil {
			version = module.Replace.Version
		}
		switch module.Path {
		case "istio.io/istio":
			versions.Istio = version
		case "istio.io/api":
			versions.API = version
		}
	}
	return versions
}
