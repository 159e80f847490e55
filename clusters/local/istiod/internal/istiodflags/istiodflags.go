// Package istiodflags sets istiod's feature flags that the local mesh needs, before
// istiod's packages read them.
//
// istiod reads its feature flags from the environment while its packages initialise,
// so they must be set before any istio.io package runs its init. Go initialises
// packages in import-path order where dependencies allow (Go 1.21+ spec): this
// package's path sorts before every istio.io path and it imports only os, so its init
// runs first. main checks the flags after start-up and refuses to run if this failed.
package istiodflags

import "os"

// StockEnvoy are istiod's feature flags that add Istio-only Envoy filters (istio.alpn,
// istio.metadata_exchange), which a stock Envoy NACKs
// (docs/istiod-in-the-loop.md).
var StockEnvoy = map[string]string{
	"PILOT_ENABLE_ALPN_FILTER":       "false",
	"PILOT_ENABLE_METADATA_EXCHANGE": "false",
}

// NoKubelet is the injector's native-sidecar switch. Left at "auto", the injector
// reads the nodes' kubelet versions; the local mesh has no nodes, so it injects
// istio-proxy as a regular container, as on Kubernetes before 1.33.
var NoKubelet = map[string]string{
	"ENABLE_NATIVE_SIDECARS": "false",
}

func init() {
	for _, flags := range []map[string]string{StockEnvoy, NoKubelet} {
		for name, value := range flags {
			if _, set := os.LookupEnv(name); !set {
				_ = os.Setenv(name, value)
			}
		}
	}
}
