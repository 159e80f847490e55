package main

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	meshconfig "istio.io/api/mesh/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/gvk"
	"istio.io/istio/pkg/util/sets"
)

// ControlPlane is istiod's discovery server (Istio's own xDS harness, which builds
// the push context, the ServiceEntry registry and the generators as istiod does)
// over a fake Kubernetes API that holds what the local mesh's cluster has.
type ControlPlane struct {
	fds    *xds.FakeDiscoveryServer
	failer *processFailer
	// mu serialises changes, so a change's push version is the one that includes it.
	mu   sync.Mutex
	mesh *meshconfig.MeshConfig
}

// Options say what the cluster holds when the control plane starts.
type Options struct {
	Mesh              *meshconfig.MeshConfig
	KubernetesObjects string // a YAML stream: Namespaces, Services, Pods...
	Configs           []config.Config
	Listener          net.Listener
}

// NewControlPlane starts the discovery server; ADS is served on opts.Listener.
func NewControlPlane(opts Options) (*ControlPlane, error) {
	failer := &processFailer{}
	objects, err := decodeKubernetes(opts.KubernetesObjects)
	if err != nil {
		return nil, err
	}
	fds := xds.NewFakeDiscoveryServer(failer, xds.FakeOptions{
		MeshConfig:        opts.Mesh,
		KubernetesObjects: objects,
		Configs:           opts.Configs,
		ListenerBuilder:   func() (net.Listener, error) { return opts.Listener, nil },
	})
	if opts.Mesh == nil {
		opts.Mesh = fds.Env().Mesh()
	}
	return &ControlPlane{fds: fds, failer: failer, mesh: opts.Mesh}, nil
}

// Close stops the server and its informers.
func (c *ControlPlane) Close() { c.failer.Close() }

// Change is what the caller waits for: the push version that includes a change.
type Change struct {
	PushVersion string `json:"pushVersion"`
}

// ApplyIstio creates or replaces Istio configs in istiod's config store, the way
// the API server's watch hands them to istiod.
func (c *ControlPlane) ApplyIstio(configs []config.Config) (Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	store := c.fds.Store()
	for _, cfg := range configs {
		existing := store.Get(cfg.GroupVersionKind, cfg.Name, cfg.Namespace)
		var err error
		if existing == nil {
			_, err = store.Create(cfg)
		} else {
			cfg.ResourceVersion = existing.ResourceVersion
			cfg.CreationTimestamp = existing.CreationTimestamp // an update keeps the object's age
			_, err = store.Update(cfg)
		}
		if err != nil {
			return Change{}, fmt.Errorf("storing %s %s/%s: %v", cfg.GroupVersionKind.Kind, cfg.Namespace, cfg.Name, err)
		}
	}
	return c.commit("config applied"), nil
}

// DeleteIstio removes one config; found is false when there was none.
func (c *ControlPlane) DeleteIstio(cfgKind config.GroupVersionKind, namespace, name string) (found bool, change Change, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	store := c.fds.Store()
	if store.Get(cfgKind, name, namespace) == nil {
		return false, Change{}, nil
	}
	if err := store.Delete(cfgKind, name, namespace, nil); err != nil {
		return true, Change{}, err
	}
	return true, c.commit("config deleted"), nil
}

// ClearIstio removes every Istio config outside the namespace keep (a suite's reset
// between scenarios: what they applied goes, the install's own config in its root
// namespace stays), as one change: one push however many configs went.
func (c *ControlPlane) ClearIstio(keep string) (deleted []config.Config, change Change, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	store := c.fds.Store()
	for _, schema := range collections.Pilot.All() {
		for _, cfg := range store.List(schema.GroupVersionKind(), "") {
			if cfg.Namespace == keep {
				continue
			}
			if err = store.Delete(cfg.GroupVersionKind, cfg.Name, cfg.Namespace, nil); err != nil {
				break
			}
			deleted = append(deleted, cfg)
		}
		if err != nil {
			break
		}
	}
	if len(deleted) == 0 {
		return nil, Change{}, err
	}
	// What went is pushed even when a later delete failed, so proxies match the store.
	return deleted, c.commit("configs cleared"), err
}

// ListIstio lists the stored configs of one kind in a namespace ("" for all).
func (c *ControlPlane) ListIstio(cfgKind config.GroupVersionKind, namespace string) []config.Config {
	return c.fds.Store().List(cfgKind, namespace)
}

// SetOutboundTrafficPolicy changes meshConfig.outboundTrafficPolicy.mode, as
// editing the istio ConfigMap (or istioctl install --set) does: istiod's mesh
// watcher sees the new mesh config and a full push follows.
func (c *ControlPlane) SetOutboundTrafficPolicy(mode string) (Change, error) {
	value, ok := meshconfig.MeshConfig_OutboundTrafficPolicy_Mode_value[mode]
	if !ok {
		return Change{}, fmt.Errorf("unknown outboundTrafficPolicy mode %q", mode)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := proto.Clone(c.mesh).(*meshconfig.MeshConfig)
	next.OutboundTrafficPolicy = &meshconfig.MeshConfig_OutboundTrafficPolicy{
		Mode: meshconfig.MeshConfig_OutboundTrafficPolicy_Mode(value),
	}
	c.fds.Env().Watcher.(meshwatcher.TestWatcher).Set(next)
	c.mesh = next
	c.fds.Discovery.ConfigUpdate(fullPush(&model.PushRequest{
		Forced: true,
		Reason: model.NewReasonStats(model.GlobalUpdate),
	}))
	return c.wait(), nil
}

// MeshConfig is the mesh config istiod runs with now (a copy).
func (c *ControlPlane) MeshConfig() *meshconfig.MeshConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return proto.Clone(c.mesh).(*meshconfig.MeshConfig)
}

// ApplyKubernetes creates or replaces Kubernetes objects (the sample's Pod, a
// Service) in the fake API server; istiod's Kubernetes registry watches them.
func (c *ControlPlane) ApplyKubernetes(yamlText string) (Change, error) {
	objects, err := decodeKubernetes(yamlText)
	if err != nil {
		return Change{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, object := range objects {
		if err := c.upsertKubernetes(object); err != nil {
			return Change{}, err
		}
	}
	return c.commit("kubernetes objects applied"), nil
}

// DeletePod removes a Pod, as kubectl delete pod does.
func (c *ControlPlane) DeletePod(namespace, name string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.fds.KubeClient().Kube().CoreV1().Pods(namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (c *ControlPlane) upsertKubernetes(object runtime.Object) error {
	ctx := context.Background()
	kube := c.fds.KubeClient().Kube()
	var err error
	switch o := object.(type) {
	case *corev1.Pod:
		err = upsert(ctx, kube.CoreV1().Pods(o.Namespace), o)
	case *corev1.Service:
		err = upsert(ctx, kube.CoreV1().Services(o.Namespace), o)
	case *corev1.Namespace:
		err = upsert(ctx, kube.CoreV1().Namespaces(), o)
	case *discoveryv1.EndpointSlice:
		err = upsert(ctx, kube.DiscoveryV1().EndpointSlices(o.Namespace), o)
	default:
		return fmt.Errorf("the local cluster does not serve %T objects", object)
	}
	return err
}

// writer is what client-go's typed clients offer for one kind of object.
type writer[T any] interface {
	Create(ctx context.Context, object T, options metav1.CreateOptions) (T, error)
	Update(ctx context.Context, object T, options metav1.UpdateOptions) (T, error)
}

// upsert replaces an object, or creates it when there is none (kubectl apply's effect).
func upsert[T any](ctx context.Context, client writer[T], object T) error {
	if _, err := client.Update(ctx, object, metav1.UpdateOptions{}); !apierrors.IsNotFound(err) {
		return err
	}
	_, err := client.Create(ctx, object, metav1.CreateOptions{})
	return err
}

// commit asks for the push that istiod's config handlers would ask for, and waits
// until the push context that includes the change exists. The caller then waits
// for the proxy's ACK of that version (see /debug/syncz).
//
// istiod's registries take config events asynchronously (krt collections), so the
// ServiceEntry registry is first given time to show what the store holds; config
// kinds such as VirtualService are read from the store by the push itself.
func (c *ControlPlane) commit(reason string) Change {
	deadline := time.Now().Add(registryTimeout)
	for !c.registryMatchesStore() && time.Now().Before(deadline) {
		time.Sleep(200 * time.Microsecond)
	}
	c.fds.Discovery.ConfigUpdate(fullPush(&model.PushRequest{
		// Full and forced: every watched type is sent with the new version, so a
		// proxy is in sync with a change exactly when it has ACKed that version.
		Forced:         true,
		ConfigsUpdated: sets.New[model.ConfigKey](),
		Reason:         model.NewReasonStats(model.TriggerReason(reason)),
	}))
	return c.wait()
}

// registryTimeout bounds the wait for istiod's ServiceEntry registry; it normally
// catches up within a millisecond.
const registryTimeout = 5 * time.Second

// registryMatchesStore reports whether the ServiceEntry registry holds one service
// per host of every stored ServiceEntry, with the stored ports, and no others.
func (c *ControlPlane) registryMatchesStore() bool {
	want := sets.New[string]()
	for _, cfg := range c.fds.Store().List(gvk.ServiceEntry, "") {
		se, ok := cfg.Spec.(*networking.ServiceEntry)
		if !ok {
			continue
		}
		var ports []string
		for _, port := range se.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", port.Name, port.Number))
		}
		for _, hostname := range se.Hosts {
			want.Insert(serviceKey(cfg.Namespace, cfg.Name, hostname, ports))
		}
	}
	have := sets.New[string]()
	for _, svc := range c.fds.ServiceEntryRegistry.Services() {
		var ports []string
		for _, port := range svc.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", port.Name, port.Port))
		}
		have.Insert(serviceKey(svc.Attributes.Namespace, svc.Attributes.K8sAttributes.ObjectName, string(svc.Hostname), ports))
	}
	return want.Equals(have)
}

func serviceKey(namespace, name, hostname string, ports []string) string {
	slices.Sort(ports)
	return namespace + "/" + name + "/" + hostname + "/" + strings.Join(ports, ",")
}

// wait returns once istiod has built the push context that includes every update
// asked for so far, and makes sure that context itself reaches every proxy.
//
// The newest push context may come from a push that a proxy does not need (istiod
// skips proxies a change does not concern), so its version alone is no promise that
// the proxy will ever ACK it. AdsPushAll (istiod's debug push) enqueues a forced push
// of exactly that context to every connected proxy: the proxy is in sync with the
// change once it has ACKed this version or a later one.
func (c *ControlPlane) wait() Change {
	target := c.fds.Discovery.InboundUpdates.Load()
	for c.fds.Discovery.CommittedUpdates.Load() < target {
		time.Sleep(200 * time.Microsecond)
	}
	push := c.fds.PushContext()
	c.fds.Discovery.AdsPushAll(fullPush(&model.PushRequest{
		Push:   push,
		Forced: true,
		Reason: model.NewReasonStats(model.ConfigUpdate),
	}))
	return Change{PushVersion: push.PushVersion}
}

// fullPush marks a request as a full push on Istio builds that still have the
// PushRequest.Full field (1.30 and older: without it a request is incremental, builds
// no new push context and sends only endpoints). From 1.31 every push is full and the
// field is gone, so it is set by name where it exists.
func fullPush(request *model.PushRequest) *model.PushRequest {
	if field := reflect.ValueOf(request).Elem().FieldByName("Full"); field.IsValid() && field.Kind() == reflect.Bool {
		field.SetBool(true)
	}
	return request
}

func decodeKubernetes(text string) ([]runtime.Object, error) {
	var objects []runtime.Object
	for _, document := range splitYAML(text) {
		object, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(document), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decoding a Kubernetes object: %v", err)
		}
		objects = append(objects, object)
	}
	return objects, nil
}
