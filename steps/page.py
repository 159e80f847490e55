"""The page's own commands, as its reader types them, for the report beside each step.

These are facts of the page (Istio ~1.1's "Control Egress Traffic"), kept verbatim
where the page shows them: the report puts each step's page command next to what the
suite actually ran, so a reviewer sees where the two part ways.
"""

from __future__ import annotations

from collections.abc import Sequence

from clusters.protocol import Injection, OutboundTrafficPolicy

SLEEP_MANIFEST = "samples/sleep/sleep.yaml"
HELM_CHART = "install/kubernetes/helm/istio <the flags you used to install Istio>"
INJECTOR_TEMPLATE = "-x templates/sidecar-injector-configmap.yaml"


def deploy_sleep(injection: Injection) -> str:
    if injection is Injection.MANUAL:
        return f"kubectl apply -f <(istioctl kube-inject -f {SLEEP_MANIFEST})"
    return f"kubectl apply -f {SLEEP_MANIFEST}"


def delete_sleep() -> str:
    return f"kubectl delete -f {SLEEP_MANIFEST}"


def export_source_pod(label: str) -> str:
    return f"export SOURCE_POD=$(kubectl get pod -l {label} -o jsonpath={{.items..metadata.name}})"


def exec_in_source_pod(command: str) -> str:
    return f"kubectl exec -it $SOURCE_POD -c sleep -- {command}"


def grep_status_line() -> str:
    return '| grep "HTTP/"'


def exit_code_message(code: int) -> str:
    """What kubectl prints when the command in the pod fails."""
    return f"command terminated with exit code {code}"


def time_command(command: str) -> str:
    """The page times the command from a shell inside the pod."""
    return f"kubectl exec -it $SOURCE_POD -c sleep sh\n# then, in the pod's shell:\ntime {command}"


def check_mode(mode: OutboundTrafficPolicy) -> str:
    return f'kubectl get configmap istio -n istio-system -o yaml | grep -o "mode: {mode}"'


def switch_mode(mode: OutboundTrafficPolicy) -> str:
    other = (
        OutboundTrafficPolicy.ALLOW_ANY
        if mode is OutboundTrafficPolicy.REGISTRY_ONLY
        else OutboundTrafficPolicy.REGISTRY_ONLY
    )
    return (
        f"kubectl get configmap istio -n istio-system -o yaml | "
        f"sed 's/mode: {other}/mode: {mode}/g' | kubectl replace -n istio-system -f -"
    )


SWITCH_MODE_OUTPUT = 'configmap "istio" replaced'


def apply_manifest(manifest: str) -> str:
    return f"kubectl apply -f - <<EOF\n{manifest.rstrip()}\nEOF"


def sidecar_log() -> str:
    return "kubectl logs $SOURCE_POD -c istio-proxy | tail"


def include_ip_ranges_flag(ranges: Sequence[str]) -> str:
    """Helm's flag; the page escapes the commas for Helm's --set."""
    joined = "\\,".join(ranges)
    return f'--set global.proxy.includeIPRanges="{joined}"'


def helm_injector(ranges: Sequence[str] | None) -> str:
    """The page's regeneration of the sidecar injector's configmap, with or without ranges."""
    flag = f" {include_ip_ranges_flag(ranges)}" if ranges is not None else ""
    return f"helm template {HELM_CHART}{flag} {INJECTOR_TEMPLATE} | kubectl apply -f -"


def redeploy_sleep(ranges: Sequence[str] | None) -> str:
    """Regenerate the injector, then redeploy sleep (the bypass only affects new pods)."""
    return f"{helm_injector(ranges)}\n{deploy_sleep(Injection.AUTOMATIC)}"
