// Package stockenvoy makes istiod generate config that an upstream (stock) Envoy accepts.
//
// istiod reads its feature flags from the environment while its packages initialise,
// so they must be set before any istio.io package runs its init. Go initialises
// packages in import-path order where dependencies allow (Go 1.21+ spec): this
// package's path sorts before every istio.io path and it imports only os, so its init
// runs first. main checks the flags after start-up and refuses to run if this failed.
package stockenvoy

import "os"

// Flags are istiod's feature flags that add Istio-only Envoy filters (istio.alpn,
// istio.metadata_exchange), which a stock Envoy NACKs
// (shared/notes/istiod-in-the-loop.md).
var Flags = map[string]string{
	"PILOT_ENABLE_ALPN_FILTER":       "false",
	"PILOT_ENABLE_METADATA_EXCHANGE": "false",
}

func init() {
	for name, value := range Flags {
		if _, set := os.LookupEnv(name); !set {
			_ = os.Setenv(name, value)
		}
	}
}
