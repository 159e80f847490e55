"""``kubectl`` for the local mesh: the page's kubectl commands, answered as kubectl v1.34
answers them.

The local mesh has no API server. ``LocalCluster.shell_env()`` puts a ``kubectl`` first
on PATH that runs this module in a process of its own, re-attached to the run through
its run directory (EGRESS_MESH_RUN_ROOT, EGRESS_MESH_RUN_ID; without them the
``egress-mesh`` CLI's run), so the page's commands run in bash as written. Every answer
is kubectl's (k8s.io/kubectl v0.34.4): what it prints on stdout and on stderr, and its
exit code. What it reports is the mesh's own: the pod and its sidecar's log, istiod's
config store, the istio ConfigMap as Istio's installer renders it. What the mesh does not
hold is refused in one line.

Start-up is short: exec, logs and ``get pod`` read the run's state file only; the verbs
that need the control plane attach to the mesh (LocalCluster.attach).
"""

from __future__ import annotations

import calendar
import contextlib
import copy
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from clusters.local import kubeargs
from clusters.local.kubeargs import Invocation, KubectlError

if TYPE_CHECKING:
    from clusters.local.mesh import LocalCluster
    from clusters.local.runstate import RunState

RUN_ROOT_ENV = "EGRESS_MESH_RUN_ROOT"
RUN_ID_ENV = "EGRESS_MESH_RUN_ID"
DEFAULT_RUN_ID = "cli"  # egress-mesh up's run
SIDECAR = "istio-proxy"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
INSTALL_NAMESPACE = "istio-system"
WAIT_S = 60.0  # for the sidecar to take a change, as egress-mesh waits
GET_FORMATS = (
    "custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,"
    "jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml"
)
AGE_COLUMN = ({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},)
# Kinds any cluster serves that the local mesh's kubectl does not answer for (its answer
# would be a lie, not kubectl's "doesn't have a resource type").
UNSERVED = {
    "services": ("service", "svc"),
    "deployments": ("deployment", "deploy"),
    "replicasets": ("replicaset", "rs"),
    "namespaces": ("namespace", "ns"),
    "nodes": ("node", "no"),
    "serviceaccounts": ("serviceaccount", "sa"),
    "secrets": ("secret",),
    "endpoints": ("endpoint", "ep"),
    "endpointslices": ("endpointslice",),
    "events": ("event", "ev"),
    "daemonsets": ("daemonset", "ds"),
    "statefulsets": ("statefulset", "sts"),
    "jobs": ("job",),
    "cronjobs": ("cronjob", "cj"),
    "ingresses": ("ingress", "ing"),
    "persistentvolumes": ("persistentvolume", "pv"),
    "persistentvolumeclaims": ("persistentvolumeclaim", "pvc"),
    "customresourcedefinitions": ("customresourcedefinition", "crd", "crds"),
    "mutatingwebhookconfigurations": ("mutatingwebhookconfiguration",),
    "validatingwebhookconfigurations": ("validatingwebhookconfiguration",),
}


# kubectl's words ------------------------------------------------------------------------
def kind_text(kind: str, group: str) -> str:
    """``serviceentry.networking.istio.io``; ``configmap`` for the core group."""
    return f"{kind.lower()}.{group}" if group else kind.lower()


def resource_text(plural: str, group: str) -> str:
    """``serviceentries.networking.istio.io``; ``pods`` for the core group."""
    return f"{plural}.{group}" if group else plural


def operation_line(kind: str, group: str, name: str, operation: str, dry_run: str = "none") -> str:
    """kubectl's name printer: ``serviceentry.networking.istio.io/httpbin-ext created``."""
    return f"{kind_text(kind, group)}/{name} {operation}{kubeargs.dry_run_suffix(dry_run)}"


def deleted_line(
    kind: str, group: str, name: str, namespace: str | None, dry_run: str = "none"
) -> str:
    """kubectl delete's line (v1.34 names the namespace of a namespaced object)."""
    operation = "deleted" if namespace is None else f"deleted from {namespace} namespace"
    return f'{kind_text(kind, group)} "{name}" {operation}{kubeargs.dry_run_suffix(dry_run)}'


def no_resources(namespace: str | None) -> str:
    """What kubectl get prints on stderr when nothing matched (None: -A)."""
    return (
        "No resources found"
        if namespace is None
        else (f"No resources found in {namespace} namespace.")
    )


def not_found_status(plural: str, group: str, name: str) -> dict[str, Any]:
    """The API server's NotFound Status for one object."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": f'{resource_text(plural, group)} "{name}" not found',
        "reason": "NotFound",
        "details": {"name": name, "group": group, "kind": plural},
        "code": 404,
    }


@dataclass(frozen=True)
class ServerError:
    """An API server Status as kubectl holds it (a StatusError)."""

    status: Mapping[str, Any]

    def with_source(self, verb: str, source: str | None) -> ServerError:
        """cmdutil.AddSourceToErr: the file the object came from, in the message."""
        if not source:
            return self
        message = f'error when {verb} "{source}": {self.status.get("message", "")}'
        return ServerError({**self.status, "message": message})

    def standard(self) -> str:
        """cmdutil.StandardErrorMessage."""
        reason, message = self.status.get("reason") or "", self.status.get("message", "")
        if reason == "Unauthorized":
            return f"error: You must be logged in to the server ({message})"
        return (
            f"Error from server ({reason}): {message}"
            if reason
            else (f"Error from server: {message}")
        )

    def alone(self) -> str:
        """cmdutil.CheckErr's text for this error alone (Invalid lists its causes)."""
        details = self.status.get("details")
        if self.status.get("reason") != "Invalid":
            return self.standard()
        text = "The request is invalid"
        if not details:
            message = self.status.get("message")
            return f"{text}: {message}" if message else text
        causes = details.get("causes") or []
        if details.get("kind") or details.get("name"):
            text = f"The {details.get('kind', '')} {json.dumps(details.get('name', ''))} is invalid"
        elif self.status.get("message") and not causes:
            text += ": " + str(self.status["message"])
        lines: list[str] = []
        for cause in causes:
            line = f"{cause.get('field', '')}: {cause.get('message', '')}"
            if line not in lines:
                lines.append(line)
        if not lines:
            return text
        if len(lines) == 1:
            return f"{text}: {lines[0]}"
        return f"{text}: \n" + "\n".join(f"* {line}" for line in lines)


Problem = ServerError | str  # a client-side problem is its message


def error_text(problems: Sequence[Problem]) -> str:
    """cmdutil.CheckErr of one error or an aggregate (MultipleErrors: one per line)."""
    if len(problems) == 1:
        problem = problems[0]
        if isinstance(problem, ServerError):
            return problem.alone()
        return problem if problem.startswith("error: ") else f"error: {problem}"
    return "\n".join(p.standard() if isinstance(p, ServerError) else p for p in problems)


class Failed(Exception):
    """Problems collected while the verb went on (kubectl's ContinueOnError)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(error_text(problems))
        self.problems = list(problems)


# The run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """A kind as kubectl resolved it (its REST mapping)."""

    kind: str
    group: str
    plural: str
    namespaced: bool = True

    @property
    def kind_text(self) -> str:
        return kind_text(self.kind, self.group)

    def not_found(self, name: str, verb: str | None = None, source: str | None = None) -> Problem:
        error = ServerError(not_found_status(self.plural, self.group, name))
        return error.with_source(verb, source) if verb else error


POD = Resource("Pod", "", "pods")
CONFIGMAP = Resource("ConfigMap", "", "configmaps")
SERVICE_ACCOUNT = Resource("ServiceAccount", "", "serviceaccounts")
SERVICE = Resource("Service", "", "services")
DEPLOYMENT = Resource("Deployment", "apps", "deployments")
CORE_NAMES = {
    "pod": POD,
    "pods": POD,
    "po": POD,
    "configmap": CONFIGMAP,
    "configmaps": CONFIGMAP,
    "cm": CONFIGMAP,
}


class Session:
    """The run this kubectl answers for: its state (cheap) and, when a verb needs the
    control plane, the mesh attached through the run directory."""

    def __init__(self, run_root: Path, run_id: str) -> None:
        self.directory = run_root / run_id
        self.run_root, self.run_id = run_root, run_id

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Session:
        """The run that LocalCluster.shell_env() named (else the egress-mesh CLI's)."""
        root = Path(environ.get(RUN_ROOT_ENV) or "/run/egress-conformance")
        return cls(root, environ.get(RUN_ID_ENV) or DEFAULT_RUN_ID)

    @functools.cached_property
    def state(self) -> RunState:
        from clusters.local.runstate import RunState

        try:
            return RunState.load(self.directory)
        except FileNotFoundError:
            raise KubectlError(
                f"error: no local mesh is running in {self.directory} (egress-mesh up starts "
                "one; a test's mesh gives its kubectl through LocalCluster.shell_env())"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise KubectlError(
                f"error: the run directory {self.directory} is damaged: {error}"
            ) from None

    @functools.cached_property
    def mesh(self) -> LocalCluster:
        from clusters.local.mesh import LocalCluster
        from clusters.protocol import ClusterError

        self.state  # noqa: B018 - a missing run is refused in kubectl's way first
        try:
            return LocalCluster.attach(self.run_root, self.run_id)
        except ClusterError as error:
            raise KubectlError(f"error: {error}") from None

    # The pod, from the run's record alone --------------------------------------------------
    def proxy_running(self) -> bool:
        from clusters.shared import processes

        return any(r.name == SIDECAR and processes.is_running(r) for r in self.state.processes)

    def pods(self, namespace: str | None) -> list[dict[str, Any]]:
        """The pods of ``namespace`` (None: all) as the API server would list them."""
        pod = self.pod_object()
        if pod is None or namespace not in (None, pod["metadata"].get("namespace")):
            return []
        return [pod]

    def pod_object(self) -> dict[str, Any] | None:
        """The source pod as admission left it, with the status the kubelet reports."""
        from clusters.local import sourcepod

        record = self.state.pod
        if record is None:
            return None
        pod = copy.deepcopy(record.pod)
        metadata = pod.setdefault("metadata", {})
        metadata.setdefault("namespace", sourcepod.NAMESPACE)
        running = self.proxy_running()
        spec = pod.setdefault("spec", {})
        spec.setdefault("nodeName", "local")
        statuses = [
            {
                "name": container["name"],
                "ready": running or container["name"] != SIDECAR,
                "restartCount": 0,
                "started": running or container["name"] != SIDECAR,
            }
            for container in spec.get("containers") or ()
        ]
        ready = all(status["ready"] for status in statuses)
        pod["status"] = {
            "phase": "Running",
            "podIP": sourcepod.POD_IP,
            "podIPs": [{"ip": sourcepod.POD_IP}],
            "startTime": metadata.get("creationTimestamp"),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": statuses,
        }
        return pod

    def yaml(self, value: Any) -> str:
        """kubectl -o yaml: egress-istiod prints it with kubectl's own library when the
        run has one; else the same style from PyYAML."""
        socket = self.directory / "istiod" / "control.sock"
        if socket.exists():
            import httpx

            try:
                with httpx.Client(
                    transport=httpx.HTTPTransport(uds=str(socket), verify=False),
                    base_url="http://istiod",
                ) as client:
                    response = client.post("/yaml", content=json.dumps(value))
                if response.status_code == 200:
                    return response.text
            except httpx.HTTPError:
                pass
        return kubeargs.to_yaml(value)

    # Kinds ----------------------------------------------------------------------------------
    def printer_columns(self, kind: str) -> list[dict[str, Any]]:
        """A kind's printer columns (its CRD's); a CRD without them shows its age."""
        columns = getattr(self.mesh.plane, "printer_columns", dict)()
        return list(columns.get(kind) or AGE_COLUMN)

    def resolve(self, name: str) -> Resource:
        """The kind kubectl means by ``name``, or its refusal."""
        lowered = name.lower()
        bare, _, group = lowered.partition(".")
        core = CORE_NAMES.get(bare)
        if core is not None and (not group or group in ("v1", "")):
            return core
        for plural, aliases in UNSERVED.items():
            if bare in (plural, *aliases) and group in ("", "apps", "v1", "batch"):
                raise KubectlError(
                    f'error: the local mesh\'s kubectl does not serve "{name}" (it answers for '
                    "pods, configmaps and Istio's kinds)"
                )
        for kind in self.mesh.kinds():
            if kind.matches(name):
                return Resource(kind.kind, kind.group, kind.plural)
        raise KubectlError(f'error: the server doesn\'t have a resource type "{name}"')

    def items(self, resource: Resource, namespace: str | None) -> list[dict[str, Any]]:
        from clusters.protocol import ClusterError

        if resource is POD:
            return self.pods(namespace)
        try:
            if resource is CONFIGMAP:
                namespaces = (
                    [namespace] if namespace else ["default", "kube-system", INSTALL_NAMESPACE]
                )
                return [item for ns in namespaces for item in self.mesh.configmaps(ns)]
            return self.mesh.get(resource.kind, namespace)
        except ClusterError as error:
            raise KubectlError(f"error: {error}") from None


def labels_of(item: Mapping[str, Any]) -> dict[str, str]:
    return dict((item.get("metadata") or {}).get("labels") or {})


def name_of(item: Mapping[str, Any]) -> str:
    return str((item.get("metadata") or {}).get("name", ""))


def age_of(item: Mapping[str, Any], now: float | None = None) -> str:
    """The AGE column (``<unknown>`` without a creationTimestamp)."""
    stamp = (item.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    try:
        created = calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<invalid>"
    return kubeargs.human_duration((now or time.time()) - created)


def resource_args(args: Sequence[str]) -> list[tuple[str, list[str]]]:
    """ResourceTypeOrNameArgs: ``TYPE[,TYPE] [NAME...]`` or ``TYPE/NAME...``."""
    if not args:
        return []
    if "/" in args[0]:
        pairs: list[tuple[str, list[str]]] = []
        for arg in args:
            kind, _, name = arg.partition("/")
            if not kind or not name:
                raise KubectlError(
                    "error: arguments in resource/name form must have a single resource and name"
                )
            pairs.append((kind, [name]))
        return pairs
    if any("/" in arg for arg in args[1:]):
        raise KubectlError(
            "error: there is no need to specify a resource type as a separate argument when "
            "passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' "
            "instead of 'kubectl get resource resource/<resource_name>'"
        )
    return [(kind, list(args[1:])) for kind in args[0].split(",") if kind]


# get -------------------------------------------------------------------------------------
def get(session: Session, inv: Invocation, out: IO[str], err: IO[str]) -> int:
    output = str(inv.flags["output"])
    fmt, _, template = output.partition("=")
    if fmt not in ("", "wide", "yaml", "json", "name", "jsonpath"):
        raise KubectlError(
            f'error: unable to match a printer suitable for the output format "{output}", '
            f"allowed formats are: {GET_FORMATS}"
        )
    if fmt == "jsonpath" and not template:
        raise KubectlError("error: template format specified but no template given")
    if inv.flags["watch"]:
        raise KubectlError("error: the local mesh's kubectl does not watch (-w)")
    requests = resource_args(inv.args)
    if not requests:
        raise KubectlError(
            'You must specify the type of resource to get. Use "kubectl api-resources" for '
            "a complete list of supported resources.\n\nerror: Required resource not "
            'specified.\nUse "kubectl explain <resource>" for a detailed description of that '
            "resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help and examples"
        )
    selector = kubeargs.parse_selector(inv.flags["selector"]) if inv.flags["selector"] else []
    namespace = None if inv.flags["all-namespaces"] else inv.namespace
    single = len(requests) == 1 and len(requests[0][1]) == 1 and not selector
    found: list[tuple[Resource, dict[str, Any]]] = []
    problems: list[Problem] = []
    for kind_name, names in requests:
        resource = session.resolve(kind_name)
        items = [
            i
            for i in session.items(resource, namespace)
            if kubeargs.selects(selector, labels_of(i))
        ]
        if not names:
            found += [(resource, item) for item in items]
            continue
        for name in names:
            match = [item for item in items if name_of(item) == name]
            if match:
                found.append((resource, match[0]))
            elif not inv.flags["ignore-not-found"]:
                problems.append(resource.not_found(name))
    if fmt in ("", "wide"):
        _print_tables(session, found, namespace, wide=fmt == "wide", inv=inv, out=out)
        if not found and not problems and not inv.flags["ignore-not-found"]:
            print(no_resources(namespace), file=err)
    elif fmt == "name":
        for resource, item in found:
            print(f"{resource.kind_text}/{name_of(item)}", file=out)
    else:
        value: Any = (
            found[0][1]
            if single and len(found) == 1
            else {
                "apiVersion": "v1",
                "items": [item for _, item in found],
                "kind": "List",
                "metadata": {"resourceVersion": ""},
            }
        )
        if single and not found and problems:
            raise Failed(problems)
        if fmt == "yaml":
            out.write(session.yaml(value))
        elif fmt == "json":
            out.write(kubeargs.go_json(value, indent=4) + "\n")
        else:
            try:
                out.write(kubeargs.jsonpath(template, value))
            except kubeargs.JSONPathError as error:
                raise KubectlError(f"error: error parsing jsonpath {template}, {error}") from None
    if problems:
        raise Failed(problems)
    return 0


def _print_tables(
    session: Session,
    found: Sequence[tuple[Resource, dict[str, Any]]],
    namespace: str | None,
    *,
    wide: bool,
    inv: Invocation,
    out: IO[str],
) -> None:
    """One table per kind, separated by a blank line, as kubectl get prints them."""
    groups: list[tuple[Resource, list[dict[str, Any]]]] = []
    for resource, item in found:
        if groups and groups[-1][0] == resource:
            groups[-1][1].append(item)
        else:
            groups.append((resource, [item]))
    with_kind = len({resource for resource, _ in groups}) > 1
    for index, (resource, items) in enumerate(groups):
        header, rows = _rows(session, resource, items, wide=wide)
        if with_kind:
            rows = [[f"{resource.kind_text}/{row[0]}", *row[1:]] for row in rows]
        if namespace is None:
            header = ["NAMESPACE", *header]
            rows = [
                [str(item["metadata"].get("namespace", "")), *row]
                for item, row in zip(items, rows, strict=True)
            ]
        if inv.flags["show-labels"]:
            header = [*header, "LABELS"]
            rows = [
                [*row, ",".join(f"{k}={v}" for k, v in sorted(labels_of(item).items())) or "<none>"]
                for item, row in zip(items, rows, strict=True)
            ]
        if index:
            out.write("\n")
        out.write(kubeargs.table(rows if inv.flags["no-headers"] else [header, *rows]))


def _rows(
    session: Session, resource: Resource, items: Sequence[dict[str, Any]], *, wide: bool
) -> tuple[list[str], list[list[str]]]:
    if resource is POD:
        header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        if wide:
            header += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
        rows = []
        for item in items:
            statuses = item["status"].get("containerStatuses") or []
            ready = sum(1 for s in statuses if s.get("ready"))
            row = [
                name_of(item),
                f"{ready}/{len(statuses)}",
                item["status"]["phase"],
                "0",
                age_of(item),
            ]
            if wide:
                row += [
                    item["status"].get("podIP", "<none>"),
                    item["spec"].get("nodeName", "<none>"),
                    "<none>",
                    "<none>",
                ]
            rows.append(row)
        return header, rows
    if resource is CONFIGMAP:
        return ["NAME", "DATA", "AGE"], [
            [name_of(item), str(len(item.get("data") or {})), age_of(item)] for item in items
        ]
    columns = session.printer_columns(resource.kind)
    shown = [c for c in columns if wide or not c.get("priority")]
    header = ["NAME", *(str(c["name"]).upper() for c in shown)]
    rows = [[name_of(item), *(_cell(c, item) for c in shown)] for item in items]
    return header, rows


def _cell(column: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    """The API server's cell for a CRD printer column (tableconvertor), as kubectl's
    printTable prints it: a missing value blank, a string up to its first line break."""
    try:
        values = kubeargs.evaluate(str(column.get("jsonPath", "")), item)
    except kubeargs.JSONPathError:
        values = []
    value = values[0] if values else None
    kind = column.get("type")
    if value is None:
        return ""
    if kind == "string":
        text = kubeargs.result_text(value)
        for index, char in enumerate(text):
            if char in "\f\n\r":
                return text[:index] + "..."
        return text
    if kind == "date":
        return age_of({"metadata": {"creationTimestamp": value}}) if isinstance(value, str) else ""
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value))
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(float(value)).removesuffix(".0") if float(value).is_integer() else str(value)
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    return ""


# describe ----------------------------------------------------------------------------------
def describe(session: Session, inv: Invocation, out: IO[str], err: IO[str]) -> int:
    """Only kubectl's NotFound: the local mesh's kubectl prints no descriptions."""
    requests = resource_args(inv.args)
    if not requests:
        raise KubectlError(
            'You must specify the type of resource to describe. Use "kubectl api-resources" '
            "for a complete list of supported resources.\n\nerror: Required resource not "
            "specified.\nSee 'kubectl describe -h' for help and examples"
        )
    namespace = None if inv.flags["all-namespaces"] else inv.namespace
    for kind_name, names in requests:
        resource = session.resolve(kind_name)
        items = session.items(resource, namespace)
        matched = [i for i in items if not names or any(name_of(i).startswith(n) for n in names)]
        if matched:
            raise KubectlError(
                f"error: the local mesh's kubectl does not describe {resource.plural} "
                f"(kubectl get {resource.plural} {name_of(matched[0])} -o yaml shows it)"
            )
        if names:
            raise Failed([resource.not_found(names[0])])
    print(no_resources(namespace), file=err)
    return 0


# logs --------------------------------------------------------------------------------------
def logs(session: Session, inv: Invocation, out: IO[str], err: IO[str]) -> int:
    usage = (
        "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME "
        "is a required argument for the logs command\nSee 'kubectl logs -h' for help and examples"
    )
    args, selector_text = inv.args, inv.flags["selector"]
    container = str(inv.flags["container"])
    if (not args and not selector_text) or len(args) > 2:
        raise KubectlError(usage)
    if args and selector_text:
        raise KubectlError(
            "error: only a selector (-l) or a POD name is allowed\nSee 'kubectl logs -h' for "
            "help and examples"
        )
    if len(args) == 2:
        if container:
            raise KubectlError("error: only one of -c or an inline [CONTAINER] arg is allowed")
        container = args[1]
    if inv.flags["follow"]:
        raise KubectlError("error: the local mesh's kubectl does not follow logs (-f)")
    if inv.flags["previous"]:
        raise Failed(
            [
                ServerError(
                    {
                        "reason": "BadRequest",
                        "message": f'previous terminated container "{container or SIDECAR}" in pod '
                        f'"{args[0] if args else "sleep"}" not found',
                    }
                )
            ]
        )
    pods = session.pods(inv.namespace)
    tail = int(inv.flags["tail"])
    if selector_text:
        selector = kubeargs.parse_selector(selector_text)
        pods = [p for p in pods if kubeargs.selects(selector, labels_of(p))]
        if not pods:
            print(no_resources(inv.namespace), file=err)
            return 0
        if "tail" not in inv.changed:
            tail = 10
    else:
        name = _pod_name(args[0])
        pods = [p for p in pods if name_of(p) == name]
        if not pods:
            raise KubectlError(
                f'error: error from server (NotFound): pods "{name}" not found in namespace '
                f'"{inv.namespace}"'
            )
    for pod in pods:
        chosen = _container(pod, container, err, quiet=False, verb="logs")
        lines = _container_log(session, pod, chosen)
        if tail >= 0:
            lines = lines[len(lines) - tail :] if tail else []
        for line in lines:
            print(line, file=out)
    return 0


def _pod_name(arg: str) -> str:
    kind, slash, name = arg.partition("/")
    if not slash:
        return arg
    if kind.lower() in ("pod", "pods", "po"):
        return name
    raise KubectlError(f'error: the local mesh\'s kubectl reaches pods by name only (not "{arg}")')


def _container(pod: Mapping[str, Any], name: str, err: IO[str], *, quiet: bool, verb: str) -> str:
    """The container a verb means: -c's, else the default-container annotation's (Istio's
    injector sets it to the app), else the first with kubectl's notice."""
    spec = pod.get("spec") or {}
    containers = [c["name"] for c in spec.get("containers") or ()]
    init = [c["name"] for c in spec.get("initContainers") or ()]
    if name:
        if name not in containers + init:
            if verb == "exec":
                raise Failed(
                    [
                        ServerError(
                            {
                                "reason": "BadRequest",
                                "message": f"container {name} is not valid for pod {name_of(pod)}",
                            }
                        )
                    ]
                )
            raise KubectlError(f"error: container {name} is not valid for pod {name_of(pod)}")
        return name
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(
        DEFAULT_CONTAINER_ANNOTATION
    )
    if annotated in containers + init:
        return str(annotated)
    if not quiet and (len(containers) > 1 or init):
        every = ", ".join([*containers, *(f"{c} (init)" for c in init)])
        print(f'Defaulted container "{containers[0]}" out of: {every}', file=err)
    return containers[0]


def _container_log(session: Session, pod: Mapping[str, Any], container: str) -> list[str]:
    """A container's log: the sidecar's is Envoy's stdout (the access log); the app's
    ``sleep infinity`` writes nothing."""
    from clusters.protocol import complete_lines

    if container == SIDECAR:
        path = session.directory / "pods" / name_of(pod) / "istio-proxy.log"
        try:
            return complete_lines(path.read_bytes().decode(errors="replace"))
        except OSError:
            return []
    if container == "sleep":
        return []
    raise KubectlError(
        f"error: the local mesh keeps no log of container {container} (istio-init ran "
        "Istio's istio-iptables when the pod was created)"
    )


# exec --------------------------------------------------------------------------------------
def exec_(session: Session, inv: Invocation, out: IO[str], err: IO[str]) -> int:
    """kubectl exec (ExecOptions.Complete, Validate and Run, v0.34.4)."""
    args, at_dash = inv.args, inv.args_len_at_dash
    resource = args[0] if args and at_dash != 0 else ""
    if at_dash > -1:
        command = args[at_dash:]
    elif len(args) > 1 or (args and inv.flags["filename"]):
        raise KubectlError(
            "error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- "
            "[COMMAND] instead\nSee 'kubectl exec -h' for help and examples"
        )
    else:
        command = []
    if not resource and not inv.flags["filename"]:
        raise KubectlError("error: pod, type/name or --filename must be specified")
    if not command:
        raise KubectlError("error: you must specify at least one command for the container")
    if inv.flags["filename"]:
        raise KubectlError(
            "error: the local mesh's kubectl execs in a pod named on the command line"
        )
    name = _pod_name(resource)
    pods = [p for p in session.pods(inv.namespace) if name_of(p) == name]
    if not pods:
        raise Failed([POD.not_found(name)])
    pod = pods[0]
    container = _container(
        pod, str(inv.flags["container"]), err, quiet=inv.flags["quiet"], verb="exec"
    )
    if container not in [c["name"] for c in pod["spec"].get("containers") or ()]:
        raise KubectlError(
            f"error: Internal error occurred: unable to upgrade connection: container "
            f"{container} is not running (an init container has exited)"
        )
    stdin: int | IO[Any] = subprocess.DEVNULL
    if inv.flags["stdin"]:
        stdin = sys.stdin
        if inv.flags["tty"] and not sys.stdin.isatty() and not inv.flags["quiet"]:
            print(
                "Unable to use a TTY - input is not a terminal or the right kind of file", file=err
            )
    from clusters.local import sourcepod

    refusal = sourcepod.runtime_refusal(_pod_shell(command))
    if refusal is not None:  # the runtime refuses before the command runs: kubectl's error
        raise KubectlError(f"error: {refusal}")
    if inv.flags["stdin"] and inv.flags["tty"] and sys.stdin.isatty():
        return _run_in_pod_at_a_terminal(session, _pod_shell(command), container, out, err)
    return _run_in_pod(session, command, container, stdin, out, err)


def _pod_shell(command: Sequence[str]) -> list[str]:
    """The pod's ``sh`` is bash: the sleep sample's image answers ``time`` in its shell
    (the page types ``time curl ...`` there), and the host's dash has no ``time``."""
    if command and command[0] in ("sh", "/bin/sh"):
        return ["bash", *command[1:]]
    return list(command)


def _run_in_pod_at_a_terminal(
    session: Session, command: Sequence[str], container: str, out: IO[str], err: IO[str]
) -> int:
    """``-it`` at a terminal: the command gets a terminal of its own in the pod, as the
    container runtime gives it, so its output and errors come as one stream to kubectl's
    stdout (curl then prints no progress meter), and what is typed reaches it. The
    standard library's pty.spawn is that copy loop, with the local terminal raw."""
    import pty

    from clusters.local import sourcepod

    argv = sourcepod.exec_argv(session.state.namespace("pod"), command, container)
    environment = [f"{key}={value}" for key, value in sourcepod.POD_ENV.items()]
    out.flush()
    err.flush()
    status = pty.spawn(["env", "-i", "-C", "/", *environment, *argv])
    code = os.waitstatus_to_exitcode(status)
    code = code if code >= 0 else 128 - code
    if code:
        raise KubectlError(f"command terminated with exit code {code}", code)
    return 0


def _run_in_pod(
    session: Session,
    command: Sequence[str],
    container: str,
    stdin: int | IO[Any],
    out: IO[str],
    err: IO[str],
) -> int:
    """The command in the container, its output passed through as it comes, and
    kubectl's line for a non-zero exit."""
    from clusters.local import sourcepod

    argv = sourcepod.exec_argv(session.state.namespace("pod"), command, container)
    out.flush()
    err.flush()
    try:
        done = subprocess.run(
            argv, stdin=stdin, stdout=out, stderr=err, env=sourcepod.POD_ENV, cwd="/", check=False
        )
    except FileNotFoundError as error:
        raise KubectlError(
            f"error: cannot enter the pod: {error.filename} is not installed"
        ) from None
    code = done.returncode if done.returncode >= 0 else 128 - done.returncode
    if code:
        raise KubectlError(f"command terminated with exit code {code}", code)
    return 0


# apply, replace, delete: manifests ----------------------------------------------------------
@dataclass
class Document:
    """One object of a manifest and where kubectl read it from (its Info.Source)."""

    object: dict[str, Any]
    source: str

    @property
    def kind(self) -> str:
        return str(self.object.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.object.get("apiVersion") or "")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def name(self) -> str:
        return name_of(self.object)

    @property
    def namespace(self) -> str:
        return str((self.object.get("metadata") or {}).get("namespace") or "")


def read_documents(inv: Invocation, verb: str) -> list[Document]:
    """-f's files (``-`` is stdin, a directory its .yaml/.yml/.json files), as kubectl's
    builder reads them, with the namespace each object goes to."""
    from clusters.istio.kubectl_documents import load_documents, read_manifest
    from clusters.protocol import InvalidResource

    filenames = list(inv.flags["filename"])
    if not filenames:
        raise KubectlError(
            "error: must specify --filename to replace"
            if verb == "replace"
            else "error: must specify one of -f and -k"
        )
    documents: list[Document] = []
    for filename in filenames:
        for source, data in _read_sources(filename):
            try:
                text = read_manifest(data, source)
                loaded = load_documents(text) if text.strip() else []
            except InvalidResource as error:
                raise KubectlError(f"error: error parsing {source}: {error}") from None
            documents += [Document(obj, source) for obj in loaded]
    for document in documents:
        metadata = document.object.setdefault("metadata", {})
        namespace = document.namespace
        if inv.namespace_given and namespace and namespace != inv.namespace:
            raise KubectlError(
                f'error: the namespace from the provided object "{namespace}" does not match '
                f"the namespace \"{inv.namespace}\". You must pass '--namespace={namespace}' to "
                "perform this operation."
            )
        if not namespace and document.kind not in ("Namespace",):
            metadata["namespace"] = inv.namespace
    return documents


def _read_sources(filename: str) -> Iterable[tuple[str, bytes]]:
    if filename == "-":
        yield "STDIN", sys.stdin.buffer.read()
        return
    if filename.startswith(("http://", "https://")):
        raise KubectlError("error: the local mesh's kubectl reads manifests from files only")
    path = Path(filename)
    if not path.exists():
        raise KubectlError(f'error: the path "{filename}" does not exist')
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.suffix in (".yaml", ".yml", ".json") and child.is_file():
                yield str(child), child.read_bytes()
        return
    try:
        yield filename, path.read_bytes()
    except OSError as error:
        raise KubectlError(f"error: open {filename}: {error.strerror.lower()}") from None


def is_sleep_sample(document: Document) -> bool:
    """The sample's ServiceAccount, Service and Deployment (samples/sleep/sleep.yaml):
    the local mesh's source pod is its Deployment's."""
    from clusters.local import sourcepod

    kinds = {("ServiceAccount", ""), ("Service", ""), ("Deployment", "apps")}
    return (
        (document.kind, document.group) in kinds
        and document.name == "sleep"
        and document.namespace == sourcepod.NAMESPACE
    )


def _sample_resource(document: Document) -> Resource:
    return {"ServiceAccount": SERVICE_ACCOUNT, "Service": SERVICE}.get(document.kind, DEPLOYMENT)


def _requested_injection(document: Document) -> str:
    """manual when the Deployment's template carries the sidecar (istioctl kube-inject
    ran), else automatic (the namespace's label has the webhook inject it)."""
    from clusters.istio import injection as injection_facts

    template = injection_facts.template(document.object)
    containers = (template.get("spec") or {}).get("containers") or []
    return "manual" if any(c.get("name") == SIDECAR for c in containers) else "automatic"


def apply(session: Session, inv: Invocation, out: IO[str], err: IO[str]) -> int:
    dry_run = kubeargs.dry_run_strategy(str(inv.flags["dry-run"]))
    if inv.flags["output"] and inv.flags["output"] != "name":
        raise KubectlError("error: the local mesh's kubectl prints apply's names only (-o name)")
    documents = read_documents(inv, "apply")
    if not documents:
        raise KubectlError("error: no objects passed to apply")
    problems: list[Problem] = []
    sample = [d for d in documents if is_sleep_sample(d)]
    for document in documents:
        try:
            if document in sample:
                resource, action = _apply_sample(session, document)
            else:
                resource, action = _apply_config(session, document, dry_run)
        except Failed as failed:
            problems += failed.problems
            continue
        if inv.flags["output"] == "name":
            print(f"{resource.kind_text}/{document.name}", file=out, flush=True)
        else:
            line = operation_line(resource.kind, resource.group, document.name, action, dry_run)
            print(line, file=out, flush=True)
    if dry_run == "none":
        _deploy_sample(session, sample)
        _wait(session)
    if problems:
        raise Failed(problems)
    return 0


def _apply_config(session: Session, document: Document, dry_run: str) -> tuple[Resource, str]:
    """One document through the API server and Istio's webhook (kubectl sends each
    object in a request of its own)."""
    from clusters.istio import kubectl_documents as istio_kubectl
    from clusters.local.mesh import check_served_locally
    from clusters.protocol import ClusterError, InvalidResource

    mesh = session.mesh
    try:
        istio_kubectl.check_kind_set(document.object)
        check_served_locally(document.object)
        istio_kubectl.check_document(document.object, mesh.kinds())
    except InvalidResource as error:
        message = str(error).replace('"STDIN"', f'"{document.source}"')
        raise Failed([message]) from None
    resource = session.resolve(f"{document.kind}.{document.group}")
    document = Document(with_last_applied(document.object), document.source)
    try:
        actions = _admit(mesh, document, dry_run)
    except InvalidResource as error:
        status = getattr(error, "status", None)
        if status is None:
            raise Failed([f"error when creating {json.dumps(document.source)}: {error}"]) from None
        raise Failed([ServerError(status).with_source("creating", document.source)]) from None
    except ClusterError as error:
        raise Failed([str(error)]) from None
    return resource, actions


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as client-side ``kubectl apply`` sends it: annotated with itself, so that
    the next apply can tell what it set from what others did (kubectl's
    GetModifiedConfiguration). The annotation is the object's JSON as Go encodes a map
    (keys sorted, compact, ``<>&`` escaped, a newline at the end), taken with the old
    annotation removed, and an empty ``annotations`` left in it when there were none."""
    applied = json.loads(json.dumps(obj))
    metadata = applied.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    metadata["annotations"] = annotations  # what the annotation encodes: "annotations":{}
    metadata["annotations"] = {**annotations, LAST_APPLIED: kubeargs.go_json(applied) + "\n"}
    return applied


def _admit(mesh: LocalCluster, document: Document, dry_run: str) -> str:
    """created, configured or unchanged: istiod says which; the model's store is
    compared with what is there."""
    plane = mesh.plane
    if hasattr(plane, "apply_actions"):
        if dry_run == "client":
            present = mesh.get(document.kind, document.namespace)
            return "configured" if any(name_of(i) == document.name for i in present) else "created"
        return str(plane.apply_actions([document.object], dry_run=dry_run == "server")[0][1])
    present = mesh.get(document.kind, document.namespace)
    action = "configured" if any(name_of(i) == document.name for i in present) else "created"
    if dry_run != "client":
        mesh.apply(json.dumps(document.object), dry_run=dry_run == "server")
    return action


def _apply_sample(session: Session, document: Document) -> tuple[Resource, str]:
    """The sleep sample's objects: they exist while the mesh has its source pod; the
    Deployment is configured when its injection differs from the pod's."""
    from clusters.istio import injection as injection_facts

    resource = _sample_resource(document)
    record = session.state.pod
    if record is None:
        action = "created"
    elif resource is not DEPLOYMENT:
        action = "unchanged"
    else:
        _check_sample_deployment(document)
        running = injection_facts.injected_by(record.deployment, record.pod).value
        action = "unchanged" if running == _requested_injection(document) else "configured"
    return resource, action


def _check_sample_deployment(document: Document) -> None:
    """The mesh runs the sample's container only: another image or command is refused."""
    from clusters.istio import injection as injection_facts

    sample = injection_facts.template(injection_facts.sleep_deployment())
    wanted = {c["name"]: c for c in (sample.get("spec") or {}).get("containers") or ()}
    given = injection_facts.template(document.object)
    for container in (given.get("spec") or {}).get("containers") or ():
        if container.get("name") == SIDECAR:
            continue
        expected = wanted.get(container.get("name"))
        if expected is None or container.get("command") != expected.get("command"):
            raise Failed(
                [
                    "the local mesh runs the sleep sample's container only (deployment "
                    f'"sleep" has container {container.get("name")!r} with command '
                    f"{container.get('command')})"
                ]
            )


def _deploy_sample(session: Session, sample: Sequence[Document]) -> None:
    """The Deployment's pod, (re-)created as its ReplicaSet would, with the injection it
    asks for and the injector's include ranges as they are."""
    from clusters.istio import injection as injection_facts
    from clusters.protocol import ClusterError, Injection

    deployments = [d for d in sample if d.kind == "Deployment"]
    record = session.state.pod
    if not deployments:
        return
    injection = Injection(_requested_injection(deployments[-1]))
    if (
        record is not None
        and injection_facts.injected_by(record.deployment, record.pod) == injection
    ):
        return
    ranges = record.include_ip_ranges if record is not None else None
    try:
        session.mesh.deploy_source_pod(injection, ranges)
    except ClusterError as error:
        raise KubectlError(f"error: {error}") from None


def _wait(session: Session) -> None:
    """Return once the sidecar runs the change, as egress-mesh does."""
    from clusters.protocol import ClusterError

    try:
        session.mesh.wait_for_proxy_config(WAIT_S)
    except ClusterError as error:
        raise KubectlError(f"error: applied, but the sidecar did not take it: {error}") from None


def replace(session: Session, inv: Invocation, out: IO[str], err: IO[str]) -> int:
    dry_run = kubeargs.dry_run_strategy(str(inv.flags["dry-run"]))
    documents = read_documents(inv, "replace")
    if not documents:
        raise KubectlError("error: no objects passed to replace")
    problems: list[Problem] = []
    changed = False
    for document in documents:
        try:
            if document.kind == "ConfigMap" and document.group == "":
                changed |= _replace_configmap(session, document, dry_run)
                line = operation_line("ConfigMap", "", document.name, "replaced", dry_run)
            else:
                line = _replace_config(session, document, dry_run)
                changed = True
        except Failed as failed:
            problems += failed.problems
            continue
        print(line, file=out, flush=True)
    if changed and dry_run == "none":
        _wait(session)
    if problems:
        raise Failed(problems)
    return 0


def _replace_config(session: Session, document: Document, dry_run: str) -> str:
    if not document.group.endswith("istio.io"):
        raise Failed(
            [
                f"the local mesh replaces Istio's config kinds and the istio ConfigMap only "
                f'({document.kind} "{document.name}" from {document.source})'
            ]
        )
    resource = session.resolve(f"{document.kind}.{document.group}")
    present = session.items(resource, document.namespace)
    if not any(name_of(item) == document.name for item in present):
        raise Failed([resource.not_found(document.name, "replacing", document.source)])
    _apply_config(session, document, dry_run)
    return operation_line(resource.kind, resource.group, document.name, "replaced", dry_run)


def _replace_configmap(session: Session, document: Document, dry_run: str) -> bool:
    """The istio ConfigMap: its mesh key's outboundTrafficPolicy.mode becomes the mesh's
    (istiod watches this ConfigMap); anything else it changes the mesh cannot take.
    True if the mode changed."""
    import yaml

    from clusters.protocol import ClusterError, OutboundTrafficPolicy

    try:
        current = session.mesh.configmap(document.namespace, document.name)
    except ClusterError as error:
        raise Failed([str(error)]) from None
    if current is None:
        raise Failed([CONFIGMAP.not_found(document.name, "replacing", document.source)])
    existing = current[0]
    given_version = str((document.object.get("metadata") or {}).get("resourceVersion") or "")
    if given_version and given_version != existing["metadata"].get("resourceVersion"):
        raise Failed(
            [
                ServerError(
                    {
                        "reason": "Conflict",
                        "message": "Operation cannot be fulfilled on configmaps "
                        f'"{document.name}": the object has been modified; please apply your '
                        "changes to the latest version and try again",
                    }
                ).with_source("replacing", document.source)
            ]
        )
    refusal = (
        "the local mesh takes only data.mesh's outboundTrafficPolicy.mode from configmap "
        f'"{document.name}"'
    )
    data = document.object.get("data") or {}
    old_data = existing.get("data") or {}
    if document.name != "istio" or document.namespace != INSTALL_NAMESPACE:
        if data != old_data:
            raise Failed(
                [
                    "the local mesh takes only data.mesh's outboundTrafficPolicy.mode from "
                    f'configmap "istio" ({document.name} is as the installer wrote it)'
                ]
            )
        return False
    for key in sorted(set(data) | set(old_data)):
        if key != "mesh" and data.get(key) != old_data.get(key):
            raise Failed([f"{refusal}: data.{key} differs from the install's"])
    for key in ("labels", "annotations"):
        given = (document.object.get("metadata") or {}).get(key) or {}
        given = {k: v for k, v in given.items() if k != LAST_APPLIED}
        if given != (existing["metadata"].get(key) or {}):
            raise Failed([f"{refusal}: metadata.{key} differ from the install's"])
    try:
        new_mesh = yaml.safe_load(str(data.get("mesh") or "")) or {}
        old_mesh = yaml.safe_load(str(old_data.get("mesh") or "")) or {}
    except yaml.YAMLError as error:
        raise Failed([f"{refusal}: data.mesh is not YAML ({str(error).splitlines()[0]})"]) from None
    if not isinstance(new_mesh, dict):
        raise Failed([f"{refusal}: data.mesh is not a mesh config"])
    new_mode, new_rest = _split_mode(new_mesh)
    old_mode, old_rest = _split_mode(old_mesh)
    if new_rest != old_rest:
        changed = sorted(
            k for k in set(new_rest) | set(old_rest) if new_rest.get(k) != old_rest.get(k)
        )
        raise Failed([f"{refusal}: data.mesh changes {', '.join(changed)}"])
    if new_mode is not None and new_mode not in {m.value for m in OutboundTrafficPolicy}:
        raise Failed(
            [
                f'{refusal}: outboundTrafficPolicy.mode "{new_mode}" is not one of ALLOW_ANY, '
                "REGISTRY_ONLY (istiod would keep its mesh config as it is)"
            ]
        )
    if new_mode == old_mode or dry_run != "none":
        return False
    try:
        session.mesh.set_configmap_mode(
            None if new_mode is None else OutboundTrafficPolicy(new_mode)
        )
    except ClusterError as error:
        raise Failed([str(error)]) from None
    return True


def _split_mode(mesh: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """outboundTrafficPolicy.mode, and the rest of the mesh config without it."""
    rest = dict(mesh)
    policy = dict(rest.pop("outboundTrafficPolicy", None) or {})
    mode = policy.pop("mode", None)
    if policy:
        rest["outboundTrafficPolicy"] = policy
    return (None if mode is None else str(mode)), rest


def delete(session: Session, inv: Invocation, out: IO[str], err: IO[str]) -> int:
    dry_run = kubeargs.dry_run_strategy(str(inv.flags["dry-run"]))
    if inv.flags["output"] not in ("", "name"):
        raise KubectlError(
            f"error: unexpected -o output mode: {inv.flags['output']}. We only support '-o name'"
        )
    ignore = bool(inv.flags["ignore-not-found"])
    problems: list[Problem] = []
    lines: list[str] = []
    changed = False
    if inv.flags["filename"]:
        if inv.args:
            raise KubectlError(
                "error: there is no need to specify a resource type as a separate argument when "
                "passing arguments in resource/name form"
            )
        targets = [(d, _target_of(session, d)) for d in read_documents(inv, "delete")]
    else:
        requests = resource_args(inv.args)
        if not requests:
            raise KubectlError(
                "error: You must provide one or more resources by argument or filename.\n"
                "Example resource specifications include:\n   '-f rsrc.yaml'\n   "
                "'--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'"
            )
        targets = []
        for kind_name, names in requests:
            resource = session.resolve(kind_name)
            if not names:
                raise KubectlError("error: resource(s) were provided, but no name was specified")
            for name in names:
                targets.append(
                    (
                        Document({"metadata": {"name": name, "namespace": inv.namespace}}, ""),
                        resource,
                    )
                )
    sample_deleted = False
    for document, resource in targets:
        namespace = document.namespace or inv.namespace
        name = document.name
        try:
            if resource in (SERVICE_ACCOUNT, SERVICE, DEPLOYMENT):
                found = session.state.pod is not None
                if found and dry_run == "none":
                    sample_deleted = True
            elif resource is POD:
                found = any(name_of(p) == name for p in session.pods(namespace))
                if found and dry_run == "none":
                    _recreate_pod(session)
            elif resource is CONFIGMAP:
                raise Failed(
                    [
                        f'the local mesh keeps the install\'s ConfigMaps (configmap "{name}" in '
                        f"{namespace}): istioctl uninstall removes them"
                    ]
                )
            else:
                found = any(name_of(i) == name for i in session.items(resource, namespace))
                if found and dry_run == "none":
                    session.mesh.delete(resource.kind, name, namespace=namespace)
                    changed = True
        except Failed as failed:
            problems += failed.problems
            continue
        if not found:
            if not ignore:
                problems.append(resource.not_found(name, "deleting", document.source))
            continue
        if inv.flags["output"] == "name":
            lines.append(f"{resource.kind_text}/{name}")
        else:
            lines.append(deleted_line(resource.kind, resource.group, name, namespace, dry_run))
        print(lines[-1], file=out, flush=True)
    if sample_deleted:
        session.mesh.delete_source_pod()
    elif changed:
        _wait(session)
    if not lines and not problems:
        print("No resources found", file=out)
    if problems:
        raise Failed(problems)
    return 0


def _target_of(session: Session, document: Document) -> Resource:
    if is_sleep_sample(document):
        return _sample_resource(document)
    if document.kind == "ConfigMap" and not document.group:
        return CONFIGMAP
    if document.kind == "Pod" and not document.group:
        return POD
    return session.resolve(f"{document.kind}.{document.group}" if document.group else document.kind)


def _recreate_pod(session: Session) -> None:
    """``kubectl delete pod``: its ReplicaSet makes a new one, as it was asked for."""
    from clusters.istio import injection as injection_facts

    record = session.state.pod
    assert record is not None
    injection = injection_facts.injected_by(record.deployment, record.pod)
    session.mesh.deploy_source_pod(injection, record.include_ip_ranges)


VERBS = {
    "get": get,
    "describe": describe,
    "logs": logs,
    "exec": exec_,
    "apply": apply,
    "replace": replace,
    "delete": delete,
}


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """kubectl's exit status; what it prints goes to ``out`` and ``err``."""
    environ = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    session = Session.from_environ(environ)
    try:
        invocation = kubeargs.parse(sys.argv[1:] if argv is None else argv)
        return VERBS[invocation.verb](session, invocation, out, err)
    except KubectlError as error:
        _flush(out)
        print(error.text, file=err)
        return error.code
    except Failed as failed:
        _flush(out)
        print(str(failed), file=err)
        return 1
    except BrokenPipeError:  # `kubectl logs ... | head -1`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # never a traceback where kubectl prints a line
        _flush(out)
        print(f"error: the local mesh's kubectl failed: {type(error).__name__}: {error}", file=err)
        return 1


def _flush(stream: IO[str]) -> None:
    with contextlib.suppress(BrokenPipeError, ValueError):
        stream.flush()


if __name__ == "__main__":
    sys.exit(main())
