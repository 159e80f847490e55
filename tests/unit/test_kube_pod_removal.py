"""How the kind and existing backends remove the sleep pod: the page's delete waits for
Kubernetes to remove it, after its kubelet has ended it; a redeploy (the reset between
scenarios, a step's deploy) takes the old pod out of the API at once, once its
ReplicaSet can no longer replace it."""

from __future__ import annotations

from typing import Any

from tests.kube_api_fake import FakeKubeApi
from tests.kube_api_fake import kube_cluster as kube

SAMPLE = "app=sleep"


class KubeletEndsPods(FakeKubeApi):
    """A Deployment's pods outlive it as terminating pods, listed for ``lingering`` more
    lists (their kubelet ending them), unless deleted with gracePeriodSeconds=0; its
    ReplicaSet is gone with it."""

    lingering = 3

    def __init__(self) -> None:
        super().__init__()
        self.terminating: dict[str, int] = {}
        self.forced: list[str] = []
        self.replica_set_lists = 0

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        grace_period_seconds: int | None = None,
    ) -> bool:
        if kind == "Deployment":
            found = self.objects.pop(self._key(kind, name, namespace), None)
            for key, obj in self.objects.items():
                if key[0] == "Pod" and obj["metadata"].get("labels", {}).get("app") == "sleep":
                    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
                    self.terminating[key[2]] = self.lingering
            return found is not None
        if kind == "Pod" and grace_period_seconds == 0:
            self.forced.append(name)
            self.terminating.pop(name, None)
        return super().delete(
            api_version, kind, name, namespace, grace_period_seconds=grace_period_seconds
        )

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        if kind == "ReplicaSet":
            self.replica_set_lists += 1
            return []
        if kind == "Pod":
            for name, left in list(self.terminating.items()):
                if left == 0:
                    del self.terminating[name]
                    self.objects.pop(self._key("Pod", name, namespace), None)
                else:
                    self.terminating[name] = left - 1
        return super().list(api_version, kind, namespace, label_selector)


def test_a_redeploy_takes_the_old_pod_out_at_once() -> None:
    api = KubeletEndsPods()
    cluster = kube(api)
    old = cluster.source_pod().name
    cluster.deploy_source_pod()
    assert api.forced == [old]  # deleted with gracePeriodSeconds=0
    assert api.replica_set_lists >= 1  # after its ReplicaSet was seen gone
    assert cluster.source_pod().name != old


def test_the_pages_delete_waits_for_kubernetes_to_remove_the_pod() -> None:
    api = KubeletEndsPods()
    cluster = kube(api)
    forced_before = list(api.forced)
    assert cluster.delete_source_pod()
    assert api.forced == forced_before  # nothing forced: the pod went as Kubernetes removes it
    assert not api.list("v1", "Pod", cluster.settings.namespace, SAMPLE)
