"""A Kubernetes API server as the suite uses it, through the ``kubernetes`` client:
server-side apply with a dry run first (so a stream is all or nothing), delete, get,
exec over the exec stream with the command's real exit code, pod logs, and GETs to a
pod's loopback through a port-forward (portforward.py).

Errors come back as one line in kubectl's words (kubectl's own two-line "resource
mapping not found" as it prints it): a refusal as InvalidResource, the rest as
ClusterError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
from kubernetes.stream import stream

from clusters.istio import kubectl_documents as kubectl
from clusters.kube.portforward import HttpAnswer, PortForwards
from clusters.protocol import ClusterError, ExecResult, InvalidResource
from clusters.shared import runtime

FIELD_MANAGER = "egress-conformance"


def status_message(error: ApiException | DynamicApiError) -> str:
    """The API server's own sentence from a failed call (its Status.message)."""
    body = getattr(error, "body", None) or ""
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        status = {}
    message = status.get("message") if isinstance(status, dict) else None
    return str(message or getattr(error, "reason", None) or error).strip().splitlines()[0]


ERROR_CHANNEL = 3  # the exec stream's status channel


def exec_status(raw: str) -> tuple[int, str | None]:
    """The exit code from the exec stream's closing Status, and the API server's message
    when the command never ran (the runtime could not start it). The client's own
    ``returncode`` takes any failure's first cause for an exit code, and a refusal's
    cause is a sentence, so it raised ValueError there."""
    try:
        status = json.loads(raw) if raw else {}
    except ValueError:
        status = {}
    if not isinstance(status, dict) or not status:
        return -1, None  # the stream closed without a status: the exit is unknown
    if status.get("status") == "Success":
        return 0, None
    for cause in (status.get("details") or {}).get("causes") or ():
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
            return int(cause["message"]), None
    message = status.get("message") or status.get("reason") or "the exec failed"
    return runtime.REFUSED_EXIT_CODE, str(message)


def _take_buffered(session: Any, stdout: list[str], stderr: list[str]) -> None:
    """Move what the exec stream holds for stdout and stderr into the two lists."""
    if session.peek_stdout():
        stdout.append(session.read_stdout(timeout=0))
    if session.peek_stderr():
        stderr.append(session.read_stderr(timeout=0))


class KubeApi:
    """One cluster, reached with a kubeconfig (a file and optionally a context)."""

    def __init__(self, kubeconfig: Path | None = None, context: str | None = None) -> None:
        try:
            self.api_client = k8s_config.new_client_from_config(
                config_file=str(kubeconfig) if kubeconfig else None, context=context
            )
        except (k8s_config.ConfigException, OSError, TypeError) as error:
            where = f"{kubeconfig}" if kubeconfig else "the current kubeconfig"
            raise ClusterError(
                f"cannot use {where}{f' context {context}' if context else ''}: {error}"
            ) from None
        self.core = k8s.CoreV1Api(self.api_client)
        self.apps = k8s.AppsV1Api(self.api_client)
        self._dynamic: DynamicClient | None = None
        self.forwards = PortForwards(self.core)

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            try:
                self._dynamic = DynamicClient(self.api_client)
            except Exception as error:  # discovery failed: the server is not reachable
                raise ClusterError(f"the API server does not answer: {error}") from None
        return self._dynamic

    def close(self) -> None:
        self.forwards.close()
        self.api_client.close()

    # Objects -------------------------------------------------------------------------
    def _resource(
        self, api_version: str, kind: str, document: Mapping[str, Any] | None = None
    ) -> Any:
        """The API resource of ``kind``; one the server lacks is refused in kubectl
        apply's words when a ``document`` is being applied."""
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            if document is not None:
                raise InvalidResource(kubectl.mapping_not_found(document)) from None
            raise InvalidResource(
                f'resource mapping not found for kind "{kind}" in version "{api_version}": '
                "ensure CRDs are installed first"
            ) from None

    def apply(self, documents: Sequence[Mapping[str, Any]], namespace: str) -> list[dict]:
        """``kubectl apply --server-side`` of every document, or of none: each is first
        applied with ``dryRun=All``, which runs the API server's validation and every
        admission webhook, so a refusal leaves the cluster as it was."""
        for dry_run in (True, False):
            applied = []
            for document in documents:
                applied.append(self._apply_one(document, namespace, dry_run=dry_run))
        return applied

    def _apply_one(self, document: Mapping[str, Any], namespace: str, *, dry_run: bool) -> dict:
        resource = self._resource(document["apiVersion"], document["kind"], document)
        metadata = document.get("metadata") or {}
        target = metadata.get("namespace") or namespace if resource.namespaced else None
        body = {**document, "metadata": {**metadata, **({"namespace": target} if target else {})}}
        try:
            result = self.dynamic.server_side_apply(
                resource,
                body=body,
                name=metadata.get("name"),
                namespace=target,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                dry_run="All" if dry_run else None,
            )
        except DynamicApiError as error:
            message = status_message(error)
            if error.status in (400, 403, 409, 422):
                raise InvalidResource(f"Error from server: {message}") from None
            raise ClusterError(
                f"applying {document['kind']} {metadata.get('name')}: {message}"
            ) from None
        return result.to_dict()

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        grace_period_seconds: int | None = None,
    ) -> bool:
        """False when there was nothing to delete. ``grace_period_seconds=0`` removes a
        pod from the API at once, as ``kubectl delete --grace-period=0 --force`` does;
        its kubelet ends the containers after."""
        resource = self._resource(api_version, kind)
        extra: dict[str, int] = {}
        if grace_period_seconds is not None:
            extra["grace_period_seconds"] = grace_period_seconds
        try:
            self.dynamic.delete(resource, name=name, namespace=namespace, **extra)
        except DynamicApiError as error:
            if error.status == 404:
                return False
            raise ClusterError(f"deleting {kind} {name}: {status_message(error)}") from None
        return True

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict]:
        resource = self._resource(api_version, kind)
        try:
            found = self.dynamic.get(
                resource, namespace=namespace, label_selector=label_selector or None
            )
        except DynamicApiError as error:
            raise ClusterError(f"listing {kind}: {status_message(error)}") from None
        return [item.to_dict() for item in found.items]

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict | None:
        resource = self._resource(api_version, kind)
        try:
            return self.dynamic.get(resource, name=name, namespace=namespace).to_dict()
        except DynamicApiError as error:
            if error.status == 404:
                return None
            raise ClusterError(f"reading {kind} {name}: {status_message(error)}") from None

    # Pods ----------------------------------------------------------------------------
    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecResult:
        """``kubectl exec POD -c CONTAINER -- argv``: stdout, stderr and the command's own
        exit code (from the exec stream's status channel)."""
        started = time.perf_counter()
        try:
            session = stream(
                self.core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                container=container,
                command=list(argv),
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
            )
        except ApiException as error:
            raise ClusterError(f"exec in {pod} ({container}): {status_message(error)}") from None
        stdout, stderr = [], []
        deadline = started + timeout
        try:
            while session.is_open():
                if time.perf_counter() > deadline:
                    raise ClusterError(f"`{' '.join(argv)}` did not finish within {timeout:g}s")
                session.update(timeout=min(1.0, max(0.05, deadline - time.perf_counter())))
                _take_buffered(session, stdout, stderr)
            # Every peek updates the stream too, so the close can come in with the last
            # output while the loop peeks stderr: what it left buffered is taken here.
            _take_buffered(session, stdout, stderr)
            code, refusal = exec_status(session.read_channel(ERROR_CHANNEL, timeout=0))
        finally:
            session.close()
        if refusal is not None:  # the runtime did not start it: kubectl's error, exit 1
            stderr.append(runtime.kubectl_error(refusal))
        return ExecResult(
            argv=tuple(argv),
            exit_code=code,
            stdout="".join(stdout),
            stderr="".join(stderr),
            elapsed=time.perf_counter() - started,
        )

    def http_get(
        self, namespace: str, pod: str, port: int, path: str, timeout: float
    ) -> HttpAnswer:
        """``GET path`` on the pod's own loopback at ``port``, through a port-forward (as
        istioctl reads istiod's and Envoy's debug endpoints), kept open for the next."""
        return self.forwards.get(namespace, pod, port, path, timeout)

    def logs(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        timestamps: bool = False,
        since_time: str | None = None,
        tail_lines: int | None = None,
    ) -> str:
        """``kubectl logs POD -c CONTAINER [--timestamps] [--since-time] [--tail]``.

        Made with the client's own request builder: its generated
        ``read_namespaced_pod_log`` has no ``sinceTime``, which the API server takes."""
        query: list[tuple[str, str]] = [("container", container)]
        if timestamps:
            query.append(("timestamps", "true"))
        if since_time is not None:
            query.append(("sinceTime", since_time))
        if tail_lines is not None:
            query.append(("tailLines", str(tail_lines)))
        request = self.api_client.param_serialize(
            "GET",
            "/api/v1/namespaces/{namespace}/pods/{name}/log",
            path_params={"namespace": namespace, "name": pod},
            query_params=query,
            header_params={"Accept": "application/json, */*"},  # as kubectl asks
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api_client.call_api(*request)
            response.read()
            if not 200 <= response.status < 300:
                raise ApiException(http_resp=response)
        except ApiException as error:
            raise ClusterError(f"logs of {pod} ({container}): {status_message(error)}") from None
        return (response.data or b"").decode(errors="replace")
