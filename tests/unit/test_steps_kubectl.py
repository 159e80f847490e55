"""Reading the page's kubectl delete lines."""

import pytest

from steps.kubectl import DeleteCommand, parse_delete


def test_the_pages_serviceentry_cleanup():
    assert parse_delete("kubectl delete serviceentry httpbin-ext google") == DeleteCommand(
        kind="ServiceEntry", names=("httpbin-ext", "google")
    )


@pytest.mark.parametrize(
    "flag, ignore",
    [
        ("--ignore-not-found=true", True),
        ("--ignore-not-found", True),
        ("--ignore-not-found=false", False),
    ],
)
def test_ignore_not_found(flag, ignore):
    command = parse_delete(f"kubectl delete virtualservice httpbin-ext {flag}")
    assert command.kind == "VirtualService"
    assert command.ignore_not_found is ignore


@pytest.mark.parametrize("resource", ["se", "serviceentries", "serviceentry.networking.istio.io"])
def test_kubectl_names_of_a_kind(resource):
    assert parse_delete(f"kubectl delete {resource} x").kind == "ServiceEntry"


@pytest.mark.parametrize(
    "command, message",
    [
        ("kubectl get serviceentry x", "expected `kubectl delete"),
        ("kubectl delete serviceentry", "expected `kubectl delete"),
        ("kubectl delete pod x", 'resource type "pod"'),
        ("kubectl delete serviceentry x --force", "unsupported kubectl flag"),
        ("kubectl delete serviceentry x --ignore-not-found=maybe", "invalid --ignore-not-found"),
    ],
)
def test_what_is_not_a_delete_the_steps_can_run(command, message):
    with pytest.raises(ValueError, match=message):
        parse_delete(command)
