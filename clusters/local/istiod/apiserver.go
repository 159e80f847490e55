package main

// The kube-apiserver's handling of an Istio custom resource on create, rebuilt
// from Kubernetes' own packages so that verdicts and messages are the real ones.
// Each step names the apiserver code it mirrors (k8s.io/apiextensions-apiserver
// v0.36.1 pkg/apiserver/customresource_handler.go and
// pkg/registry/customresource/{strategy,validator}.go, k8s.io/apiserver
// pkg/endpoints/handlers/create.go and pkg/registry/rest/create.go).
// pkg/registry/customresource and pkg/endpoints/handlers/responsewriters are not
// imported: they drag in the etcd client, which this module's go.mod does not require.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"

	"istio.io/istio/manifests"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiextensionsvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apiextensions-apiserver/pkg/crdserverscheme"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apimachinery/pkg/version"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
)

// istioCRDs is the file Istio's base chart installs: the CRDs a cluster serves.
const istioCRDs = "charts/base/files/crd-all.gen.yaml"

// APIServer answers as kube-apiserver would for Istio's CRDs.
type APIServer struct {
	served map[schema.GroupVersionKind]*crVersion
	order  []schema.GroupVersionKind // as the CRDs list them
	kinds  []KindInfo
}

// KindInfo is what discovery tells kubectl about one CRD, for name lookup.
type KindInfo struct {
	Group      string   `json:"group"`
	Kind       string   `json:"kind"`
	Plural     string   `json:"plural"`
	Singular   string   `json:"singular"`
	ShortNames []string `json:"shortNames,omitempty"`
	Versions   []string `json:"versions"`
	Namespaced bool     `json:"namespaced"`
	// Columns are the preferred version's additionalPrinterColumns: the table the
	// API server serves `kubectl get` (priority 0 shown, the rest with -o wide).
	Columns []apiextensionsv1.CustomResourceColumnDefinition `json:"columns,omitempty"`
}

// crVersion is what crdHandler.getOrCreateServingInfoFor builds per served
// version; it doubles as the create strategy (rest.RESTCreateStrategy).
type crVersion struct {
	runtime.ObjectTyper
	names.NameGenerator

	gvk        schema.GroupVersionKind
	namespaced bool
	hasStatus  bool

	// The schema's validators are built on a version's first create (10 to 40 ms):
	// compiling all of them, CEL rules most of all, is 0.3 s of CPU that a mesh's start
	// would spend on the 33 served versions, of which a run uses a few.
	schema     *apiextensions.JSONSchemaProps
	build      sync.Once
	buildErr   error
	structural *structuralschema.Structural
	validator  apiextensionsvalidation.SchemaValidator
	cel        *cel.Validator // nil when the schema has no x-kubernetes-validations
}

// ready builds the version's structural schema and validators, once.
func (v *crVersion) ready() error {
	v.build.Do(func() {
		s, err := structuralschema.NewStructural(v.schema)
		if err != nil {
			v.buildErr = fmt.Errorf("CRD %s: %v", v.gvk, err)
			return
		}
		// Like the apiserver: copy, then drop unknown fields from defaults.
		s = s.DeepCopy()
		if err := structuraldefaulting.PruneDefaults(s); err != nil {
			v.buildErr = fmt.Errorf("CRD %s: %v", v.gvk, err)
			return
		}
		validator, _, err := apiextensionsvalidation.NewSchemaValidator(v.schema)
		if err != nil {
			v.buildErr = fmt.Errorf("CRD %s: %v", v.gvk, err)
			return
		}
		v.structural, v.validator = s, validator
		v.cel = cel.NewValidator(s, true, celconfig.PerCallLimit) // as customresource.NewStrategy
	})
	return v.buildErr
}

// Warm builds every served version's validators now (the tests check that each of
// Istio's CRDs builds); the first error is returned, and answers any create of it.
func (a *APIServer) Warm() error {
	var first error
	for _, gvk := range a.order {
		if err := a.served[gvk].ready(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// NewAPIServer loads Istio's embedded CRDs and builds every served version.
func NewAPIServer() (*APIServer, error) {
	f, err := manifests.FS.Open(istioCRDs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := &APIServer{served: map[schema.GroupVersionKind]*crVersion{}}
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := dec.Decode(crd); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %v", istioCRDs, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		// The apiserver defaults a CRD when it is created (singular, listKind, ...).
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(crd)
		if err := a.add(crd); err != nil {
			return nil, fmt.Errorf("CRD %s: %v", crd.Name, err)
		}
	}
	sort.Slice(a.kinds, func(i, j int) bool {
		return a.kinds[i].Group+"/"+a.kinds[i].Kind < a.kinds[j].Group+"/"+a.kinds[j].Kind
	})
	return a, nil
}

// add mirrors getOrCreateServingInfoFor for one CRD.
func (a *APIServer) add(crd *apiextensionsv1.CustomResourceDefinition) error {
	n := crd.Spec.Names
	info := KindInfo{Group: crd.Spec.Group, Kind: n.Kind, Plural: n.Plural, Singular: n.Singular,
		ShortNames: n.ShortNames, Namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped}
	preferred := ""
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue // not in discovery, so kubectl reports "no matches for kind"
		}
		val, err := apihelpers.GetSchemaForVersion(crd, v.Name)
		if err != nil {
			return err
		}
		internal := &apiextensions.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(val, internal, nil); err != nil {
			return err
		}
		sub, err := apihelpers.GetSubresourcesForVersion(crd, v.Name)
		if err != nil {
			return err
		}
		// No Istio CRD declares a scale subresource, so the strategy's scale checks are not reproduced.
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: n.Kind}
		a.served[gvk] = &crVersion{
			ObjectTyper:   crdserverscheme.NewUnstructuredObjectTyper(),
			NameGenerator: names.SimpleNameGenerator,
			gvk:           gvk,
			namespaced:    info.Namespaced,
			hasStatus:     sub != nil && sub.Status != nil,
			schema:        internal.OpenAPIV3Schema,
		}
		a.order = append(a.order, gvk)
		info.Versions = append(info.Versions, v.Name)
		// Discovery prefers the highest version (v1 over v1beta1 over v1alpha3).
		if preferred == "" || version.CompareKubeAwareVersionStrings(v.Name, preferred) > 0 {
			preferred, info.Columns = v.Name, v.AdditionalPrinterColumns
		}
	}
	if len(info.Versions) > 0 {
		a.kinds = append(a.kinds, info)
	}
	return nil
}

// Served reports whether group/version/kind is served (kubectl's discovery: "no matches for kind").
func (a *APIServer) Served(apiVersion, kind string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && a.served[gv.WithKind(kind)] != nil
}

// Kinds lists the served kinds with their plural, short names, group and versions, for kubectl-style name lookup.
func (a *APIServer) Kinds() []KindInfo {
	return append([]KindInfo(nil), a.kinds...)
}

// Admit runs the API server's create path (kubectl apply/create with
// fieldValidation=Strict, kubectl's default) for one object decoded from
// YAML/JSON. It returns nil when the object is accepted, else the Status the
// apiserver would send. It stops where admission webhooks take over: in the
// real server mutating webhooks run after decoding/defaulting and before the
// validation below, validating webhooks after it. obj is not modified.
func (a *APIServer) Admit(obj map[string]any) *metav1.Status {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, _ := schema.ParseGroupVersion(apiVersion)
	v := a.served[gv.WithKind(kind)]
	if v == nil {
		// kubectl's REST mapping fails before any request is sent.
		err := &meta.NoKindMatchError{GroupKind: gv.WithKind(kind).GroupKind(), SearchedVersions: []string{gv.Version}}
		return &metav1.Status{Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound, Message: err.Error()}
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return toStatus(apierrors.NewBadRequest(err.Error()))
	}
	return toStatus(v.create(body))
}

// toStatus is responsewriters.ErrorToAPIStatus for the errors create returns.
func toStatus(err error) *metav1.Status {
	if err == nil {
		return nil
	}
	se, ok := err.(apierrors.APIStatus)
	if !ok {
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// create is handlers.createHandler + Store.create for one served version.
func (v *crVersion) create(body []byte) error {
	if err := v.ready(); err != nil {
		return apierrors.NewInternalError(err)
	}
	u, err := v.decode(body)
	if err != nil {
		return err
	}
	// createHandler: clear system fields and pin the namespace of the request
	// (kubectl sends metadata.namespace, else its context's "default").
	ns := u.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	rest.WipeObjectMetaSystemFields(u)
	if err := rest.EnsureObjectNamespaceMatchesRequestNamespace(rest.ExpectedNamespaceForScope(ns, v.namespaced), u); err != nil {
		return err
	}
	// Store.create: system fields and generateName, then BeforeCreate, which
	// calls PrepareForCreate, Validate, then generic ObjectMeta validation.
	rest.FillObjectMetaSystemFields(u)
	if u.GetGenerateName() != "" && u.GetName() == "" {
		u.SetName(v.GenerateName(u.GetGenerateName()))
	}
	ctx := genericapirequest.WithNamespace(context.Background(), rest.ExpectedNamespaceForScope(ns, v.namespaced))
	return rest.BeforeCreate(v, ctx, u)
}

// decode is the strict request decoder: the JSON serializer, then
// schemaCoercingDecoder (ObjectMeta coercion and pruning, which report
// unknown fields), then the versioning codec's structural defaulting.
// Errors are shaped by handlers.transformDecodeError.
func (v *crVersion) decode(body []byte) (*unstructured.Unstructured, error) {
	s := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, nil, v.ObjectTyper, kjson.SerializerOptions{Strict: true})
	u := &unstructured.Unstructured{}
	var strict []error
	_, gvk, err := s.Decode(body, &v.gvk, u)
	if err != nil {
		se, ok := runtime.AsStrictDecodingError(err)
		if !ok {
			return nil, v.decodeError(gvk, err)
		}
		strict = se.Errors()
	}
	unknown, err := v.coerce(u)
	if err != nil {
		return nil, v.decodeError(gvk, err)
	}
	for _, f := range unknown {
		strict = append(strict, fmt.Errorf(`unknown field "%s"`, f))
	}
	structuraldefaulting.Default(u.Object, v.structural)
	if len(strict) > 0 {
		return nil, v.decodeError(gvk, runtime.NewStrictDecodingError(strict))
	}
	return u, nil
}

// decodeError is handlers.transformDecodeError.
func (v *crVersion) decodeError(gvk *schema.GroupVersionKind, err error) error {
	if gvk != nil && gvk.Kind != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, v.gvk.Kind, err))
	}
	return apierrors.NewBadRequest(err.Error())
}

// coerce is unstructuredSchemaCoercer.apply with returnUnknownFieldPaths (strict).
func (v *crVersion) coerce(u *unstructured.Unstructured) ([]string, error) {
	kind, foundKind, err := unstructured.NestedString(u.Object, "kind")
	if err != nil {
		return nil, err
	}
	apiVersion, foundAPIVersion, err := unstructured.NestedString(u.Object, "apiVersion")
	if err != nil {
		return nil, err
	}
	objectMeta, foundObjectMeta, unknown, err := schemaobjectmeta.GetObjectMetaWithOptions(u.Object, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return nil, err
	}
	unknown = append(unknown, structuralpruning.PruneWithOptions(u.Object, v.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, v.structural)
	ferr, paths := schemaobjectmeta.CoerceWithOptions(nil, u.Object, v.structural, false, schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		return nil, ferr
	}
	unknown = append(unknown, paths...)
	if foundKind {
		u.SetKind(kind)
	}
	if foundAPIVersion {
		u.SetAPIVersion(apiVersion)
	}
	if foundObjectMeta {
		if err := schemaobjectmeta.SetObjectMeta(u.Object, objectMeta); err != nil {
			return nil, err
		}
	}
	return unknown, nil
}

// NamespaceScoped implements rest.RESTCreateStrategy.
func (v *crVersion) NamespaceScoped() bool { return v.namespaced }

// PrepareForCreate is customResourceStrategy.PrepareForCreate: status is dropped
// when the status subresource exists, generation starts at 1.
func (v *crVersion) PrepareForCreate(_ context.Context, obj runtime.Object) {
	u := obj.(*unstructured.Unstructured)
	if v.hasStatus {
		delete(u.Object, "status")
	}
	u.SetGeneration(1)
}

// Validate is customResourceStrategy.Validate (with customResourceValidator.Validate inlined).
func (v *crVersion) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	u := obj.(*unstructured.Unstructured)
	if errs := v.validateTypeMeta(u); len(errs) > 0 {
		return errs
	}
	var errs field.ErrorList
	errs = append(errs, validation.ValidateObjectMetaAccessor(u, v.namespaced, validation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	errs = append(errs, apiextensionsvalidation.ValidateCustomResource(nil, u.UnstructuredContent(), v.validator)...)
	errs = append(errs, schemaobjectmeta.Validate(nil, u.Object, v.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, v.structural, u.Object)...)
	if v.cel != nil {
		if blocking := blockingErr(errs); blocking != nil {
			errs = append(errs, blocking)
		} else {
			celErrs, _ := v.cel.Validate(ctx, nil, v.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
			errs = append(errs, celErrs...)
		}
	}
	return errs
}

// validateTypeMeta is customResourceValidator.ValidateTypeMeta.
func (v *crVersion) validateTypeMeta(u *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	if u.GetKind() != v.gvk.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), u.GetKind(), fmt.Sprintf("must be %v", v.gvk.Kind)))
	}
	if want := v.gvk.GroupVersion().String(); u.GetAPIVersion() != want {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion(), fmt.Sprintf("must be %v", want)))
	}
	return errs
}

// blockingErr is customresource.hasBlockingErr: CEL rules are skipped when the
// OpenAPI step found a type/required/enum/maxLength/maxItems violation.
func blockingErr(errs field.ErrorList) *field.Error {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return nil
}

// WarningsOnCreate implements rest.RESTCreateStrategy; finalizer-name warnings are not reproduced.
func (v *crVersion) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

// Canonicalize implements rest.RESTCreateStrategy (a no-op for custom resources).
func (v *crVersion) Canonicalize(runtime.Object) {}
