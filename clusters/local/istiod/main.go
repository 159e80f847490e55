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
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	// Imported first for its init: istiod's feature flags for a stock Envoy.
	"egress-conformance/istiod/internal/istiodflags"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	istiolog "istio.io/istio/pkg/log"
)

// startGCPercent is the GC target while egress-istiod starts (GOGC=400).
const startGCPercent = 400

// gcAfterStartEnv holds the GC target to set once ready, from a starter that ran this
// process with GOGC=off (the local mesh): Istio's packages initialise before main, and
// their garbage is then not collected either, which takes another tenth off the start.
const gcAfterStartEnv = "EGRESS_ISTIOD_GOGC_AFTER_START"

// startGC sets the start's GC target and returns the one to set once ready (-1: leave
// it as it is, the user's GOGC).
func startGC() (int, error) {
	if text, set := os.LookupEnv(gcAfterStartEnv); set {
		after, err := strconv.Atoi(text)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: not a GC percentage (GOGC's form, such as 100)", gcAfterStartEnv, text)
		}
		return after, nil
	}
	if _, set := os.LookupEnv("GOGC"); set {
		return -1, nil
	}
	debug.SetGCPercent(startGCPercent)
	return 100, nil
}

func main() {
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
	renderCache := flag.String("render-cache", "", "directory to keep chart renders in for the next process of this build (the build's cache directory)")
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
	phases := newStartPhases()
	// Start-up allocates much that stays (informers, the push context): collecting less
	// often until ready takes a tenth off the start, for tens of MB more at the peak.
	// The default comes back once ready, unless GOGC says otherwise.
	gcAfterStart, err := startGC()
	if err != nil {
		return err
	}
	chartCache = *renderCache

	meshText, meshCfg, err := loadMesh(*meshFile)
	if err != nil {
		return err
	}
	kubeObjects, configs, err := loadCluster(*clusterFile)
	if err != nil {
		return err
	}
	phases.mark("inputs")
	// Istio's CRDs load, and the injector renders, beside the discovery server: none
	// of the three needs another.
	crds := beside(NewAPIServer)
	rendered := beside(RenderInjection)
	webhook, err := NewWebhook()
	if err != nil {
		return err
	}
	phases.mark("webhook")
	xdsListener, err := listenUnix(*xdsSocket, 0o666) // the sidecar runs as uid 1337
	if err != nil {
		return err
	}
	plane, err := NewControlPlane(Options{Mesh: meshCfg, KubernetesObjects: kubeObjects, Configs: configs, Listener: xdsListener})
	if err != nil {
		return err
	}
	defer plane.Close()
	phases.mark("discovery")
	injection, err := rendered()
	if err != nil {
		return err
	}
	if err := injection.Start(plane); err != nil {
		return err
	}
	phases.mark("injection")
	apiserver, err := crds()
	if err != nil {
		return fmt.Errorf("loading Istio's CRDs: %v", err)
	}
	phases.mark("crds")
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
		phases.mark("sds")
	}
	controlListener, err := listenUnix(*controlSocket, 0o600)
	if err != nil {
		return err
	}
	installer, err := NewInstaller(meshText, filepath.Dir(*controlSocket))
	if err != nil {
		return err
	}
	phases.mark("installer")
	control := &Control{plane: plane, apiserver: apiserver, webhook: webhook, injection: injection, installer: installer, versions: versions}
	httpServer := &http.Server{Handler: control.Handler()}
	go func() { _ = httpServer.Serve(controlListener) }()

	ready, _ := json.Marshal(map[string]any{"ready": true, "versions": versions, "start": phases})
	fmt.Println(string(ready))
	if gcAfterStart >= 0 {
		debug.SetGCPercent(gcAfterStart)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	<-signals
	_ = httpServer.Close()
	_ = os.Remove(*controlSocket)
	_ = os.Remove(*xdsSocket)
	return nil
}

// beside runs start in a goroutine of its own; the function it returns waits for
// start's result.
func beside[T any](start func() (T, error)) func() (T, error) {
	type result struct {
		value T
		err   error
	}
	done := make(chan result, 1)
	go func() {
		value, err := start()
		done <- result{value, err}
	}()
	return func() (T, error) {
		r := <-done
		return r.value, r.err
	}
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
