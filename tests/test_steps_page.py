"""The page's commands as the report quotes them."""

from clusters.protocol import Injection, OutboundTrafficPolicy
from steps import page


def test_mode_switch_is_the_pages_sed():
    assert page.switch_mode(OutboundTrafficPolicy.REGISTRY_ONLY) == (
        "kubectl get configmap istio -n istio-system -o yaml | "
        "sed 's/mode: ALLOW_ANY/mode: REGISTRY_ONLY/g' | kubectl replace -n istio-system -f -"
    )
    assert "sed 's/mode: REGISTRY_ONLY/mode: ALLOW_ANY/g'" in page.switch_mode(
        OutboundTrafficPolicy.ALLOW_ANY
    )


def test_deploy_sleep_both_injections():
    assert page.deploy_sleep(Injection.AUTOMATIC) == "kubectl apply -f samples/sleep/sleep.yaml"
    assert page.deploy_sleep(Injection.MANUAL) == (
        "kubectl apply -f <(istioctl kube-inject -f samples/sleep/sleep.yaml)"
    )


def test_helm_flag_escapes_commas_as_the_page_does():
    assert page.include_ip_ranges_flag(["10.4.0.0/14", "10.7.240.0/20"]) == (
        '--set global.proxy.includeIPRanges="10.4.0.0/14\\,10.7.240.0/20"'
    )
    assert page.helm_injector(["10.0.0.1/24"]) == (
        "helm template install/kubernetes/helm/istio <the flags you used to install Istio> "
        '--set global.proxy.includeIPRanges="10.0.0.1/24" '
        "-x templates/sidecar-injector-configmap.yaml | kubectl apply -f -"
    )
    assert "includeIPRanges" not in page.helm_injector(None)


def test_apply_is_a_heredoc():
    assert (
        page.apply_manifest("kind: ServiceEntry\n")
        == "kubectl apply -f - <<EOF\nkind: ServiceEntry\nEOF"
    )
