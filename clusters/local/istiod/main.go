// Command egress-istiod is istiod's discovery server and config validation for the
// egress-conformance local mesh: Istio's own code, built from the istio.io/istio
// module, serving ADS to the sidecar's stock Envoy over a unix socket.
//
// It embeds Istio's xDS harness (pilot/test/xds), because pilot-discovery itself
// cannot start without a Kubernetes API server on these Istio versions
// (docs/istiod-in-the-loop.md). The harness builds the discovery server as
// istiod does, over a fake Kubernetes client that holds the local mesh's cluster.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	// Imported first for its init: istiod's feature flags for a stock Envoy.
	"egress-conformance/istiod/internal/istiodflags"

	"github.com/spf13/cobra"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	istiolog "istio.io/istio/pkg/log"
	iptables "istio.io/istio/tools/istio-iptables/pkg/cmd"
)

func main() {
	// `egress-istiod istio-iptables ...` is Istio's own init container (istio-init):
	// pilot-agent's istio-iptables command, run in the pod's network namespace.
	if len(os.Args) > 1 && os.Args[1] == "istio-iptables" {
		// As in pilot-agent, the logging flags (--log_output_level, which the injection
		// template passes) belong to the root command.
		logOptions := istiolog.DefaultOptions()
		root := &cobra.Command{Use: "egress-istiod", SilenceUsage: true}
		logOptions.AttachCobraFlags(root)
		root.AddCommand(iptables.GetCommand(logOptions))
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	xdsSocket := flag.String("xds-socket", "", "unix socket to serve ADS on (the sidecar's xds-grpc cluster)")
	controlSocket := flag.String("control-socket", "", "unix socket to serve the control API on")
	meshFile := flag.String("mesh", "", "mesh config YAML, as in the istio ConfigMap's mesh key")
	clusterFile := flag.String("cluster", "", "YAML stream of what the cluster holds at start: Kubernetes objects and Istio configs")
	systemRoots := flag.String("system-roots", "", "CA bundle the pod trusts as its system roots; serves SDS (file-root:system) beside the xds socket when set")
	showVersion := flag.Bool("version", false, "print the Istio versions this program was built from")
	flag.Parse()
	versions := BuildVersions()
	if *showVersion {
		return json.NewEncoder(os.Stdout).Encode(versions)
	}
	if *xdsSocket == "" || *controlSocket == "" {
		return errors.New("--xds-socket and --control-socket are required")
	}
	if features.ALPNFilter || features.MetadataExchange {
		return fmt.Errorf("istiod's Istio-only filters are still on (%v): a stock Envoy would NACK them", istiodflags.StockEnvoy)
	}
	quietLogs()

	meshText, meshCfg, err := loadMesh(*meshFile)
	if err != nil {
		return err
	}
	kubeObjects, configs, err := loadCluster(*clusterFile)
	if err != nil {
		return err
	}
	apiserver, err := NewAPIServer()
	if err != nil {
		return fmt.Errorf("loading Istio's CRDs: %v", err)
	}
	webhook, err := NewWebhook()
	if err != nil {
		return err
	}
	xdsListener, err := listenUnix(*xdsSocket, 0o666) // the sidecar runs as uid 1337
	if err != nil {
		return err
	}
	plane, err := NewControlPlane(Options{Mesh: meshCfg, KubernetesObjects: kubeObjects, Configs: configs, Listener: xdsListener})
	if err != nil {
		return err
	}
	defer plane.Close()
	injection, err := NewInjection(plane)
	if err != nil {
		return err
	}
	if *systemRoots != "" {
		secrets, err := StartSDS(filepath.Dir(*xdsSocket), *systemRoots)
		if err != nil {
			return err
		}
		defer secrets.Close()
		if err := waitForSocket(secrets.Socket); err != nil {
			return err
		}
		_ = os.Chmod(secrets.Socket, 0o666) // the sidecar runs as uid 1337
	}
	controlListener, err := listenUnix(*controlSocket, 0o600)
	if err != nil {
		return err
	}
	installer, err := NewInstaller(meshText, filepath.Dir(*controlSocket))
	if err != nil {
		return err
	}
	control := &Control{plane: plane, apiserver: apiserver, webhook: webhook, injection: injection, installer: installer, versions: versions}
	httpServer := &http.Server{Handler: control.Handler()}
	go func() { _ = httpServer.Serve(controlListener) }()

	ready, _ := json.Marshal(map[string]any{"ready": true, "versions": versions})
	fmt.Println(string(ready))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	<-signals
	_ = httpServer.Close()
	_ = os.Remove(*controlSocket)
	_ = os.Remove(*xdsSocket)
	return nil
}

// waitForSocket bounds the wait for the SDS server's socket (it listens asynchronously).
func waitForSocket(path string) error {
	for range 2000 {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("SDS did not listen on %s within 10s", path)
}

func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	_ = os.Remove(path) // a socket left by a killed predecessor of this run
	listener, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %v", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return nil, err
	}
	return listener, nil
}

// loadMesh applies the ConfigMap's mesh text over istiod's defaults, as istiod does;
// the text is the install's meshConfig, which the installer renders the ConfigMap from.
func loadMesh(path string) (string, *meshconfig.MeshConfig, error) {
	if path == "" {
		return "", mesh.DefaultMeshConfig(), nil
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	meshCfg, err := mesh.ApplyMeshConfigDefaults(string(text))
	if err != nil {
		return "", nil, fmt.Errorf("mesh config %s: %v", path, err)
	}
	return string(text), meshCfg, nil
}

// loadCluster splits the cluster's starting objects into Kubernetes objects (for the
// fake API server) and Istio configs (for istiod's config store).
func loadCluster(path string) (string, []config.Config, error) {
	if path == "" {
		return "", nil, nil
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	kube, configs, err := splitCluster(string(text))
	if err != nil {
		return "", nil, fmt.Errorf("cluster %s: %v", path, err)
	}
	return kube, configs, nil
}

// splitCluster splits a YAML stream by API group.
func splitCluster(text string) (string, []config.Config, error) {
	var kube, istio []string
	for _, document := range splitYAML(text) {
		if strings.Contains(document, ".istio.io/") {
			istio = append(istio, document)
		} else {
			kube = append(kube, document)
		}
	}
	configs, _, err := crd.ParseInputs(strings.Join(istio, "\n---\n"))
	if err != nil {
		return "", nil, err
	}
	return strings.Join(kube, "\n---\n"), configs, nil
}

// quietLogs keeps istiod's logs to warnings: they go to this program's stderr,
// which the local mesh shows when something fails.
func quietLogs() {
	options := istiolog.DefaultOptions()
	options.SetDefaultOutputLevel(istiolog.OverrideScopeName, istiolog.WarnLevel)
	if err := istiolog.Configure(options); err != nil {
		log.Printf("configuring logs: %v", err)
	}
}
