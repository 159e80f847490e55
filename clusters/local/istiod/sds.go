package main

import (
	"fmt"
	"os"
	"path/filepath"

	"istio.io/istio/pkg/security"
	"istio.io/istio/security/pkg/nodeagent/cache"
	"istio.io/istio/security/pkg/nodeagent/sds"
)

// SDS is pilot-agent's secret discovery service, served by this program instead: the
// sidecar's bootstrap has an `sds-grpc` cluster, as pilot-agent writes it, and istiod's
// clusters ask it for secrets such as `file-root:system` (a DestinationRule's TLS
// origination verifies the upstream with the system's roots).
//
// It is Istio's own SDS server and secret cache (security/pkg/nodeagent), with no CA:
// workload certificates (mTLS) need istiod's CA and a pod identity token, which the
// local mesh does not have, so mesh mTLS stays off (kubeobjects.MESH_CONFIG).
type SDS struct {
	server  *sds.Server
	secrets *cache.SecretManagerClient
	// Socket is where Envoy reaches it: pilot-agent's path, under the run's directory.
	Socket string
}

// StartSDS serves SDS under dir, as pilot-agent does under a pod's working directory.
// systemRoots is the bundle the pod trusts as its system roots (file-root:system).
func StartSDS(dir, systemRoots string) (*SDS, error) {
	// pilot-agent's socket path is relative to its working directory.
	if err := os.Chdir(dir); err != nil {
		return nil, err
	}
	socket := filepath.Join(dir, security.GetIstioSDSServerSocketPath())
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, err
	}
	options := &security.Options{
		FileMountedCerts: true, // no CA: serve secrets from files only
		CARootPath:       systemRoots,
	}
	secrets, err := cache.NewSecretManagerClient(nil, options)
	if err != nil {
		return nil, fmt.Errorf("SDS secret cache: %v", err)
	}
	server := sds.NewServer(options, secrets, nil)
	secrets.RegisterSecretHandler(server.OnSecretUpdate)
	return &SDS{server: server, secrets: secrets, Socket: socket}, nil
}

// Close stops the server and the secret cache's file watches.
func (s *SDS) Close() {
	s.server.Stop()
	s.secrets.Close()
}
