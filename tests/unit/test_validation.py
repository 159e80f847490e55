"""Validation answers: Istio's own, recorded, and the local mesh's measured against them.

clusters/istio/recorded/validation.json holds, for every case of tests/validation_cases.py,
its manifest and what the pinned Istio answers (the API server's CRD schema and CEL rules,
then Istio's validating webhook, through egress-istiod), and the kinds Istio's CRDs serve.
The in-memory fake backend refuses with these answers. ``test_istiod_answers_as_recorded``
fails when the Istio build answers otherwise; regenerate with
``python tests/unit/test_validation.py`` after a deliberate Istio upgrade, and read the diff.

Refusals that kubectl makes before a request reaches the API server (KUBECTL_CASES) are
not Istio's to record: their entries hold what the kit's kubectl printed against a real
kind cluster (``python tests/unit/test_validation.py kind`` records them), so the local mesh
and, with EGRESS_KIND_E2E=1, the kind backend are measured against kubectl itself.
"not-an-istio-resource" is the local mesh's own refusal; its entry says so.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from validation_cases import CASES

from clusters.fake import FakeCluster
from clusters.istio import kubectl_documents as kubectl
from clusters.istio import recorded
from clusters.istio.kubectl_documents import load_documents
from clusters.kube.cluster import KubeCluster
from clusters.local.istiod_plane import IstiodControlPlane
from clusters.local.mesh import check_served_locally
from clusters.protocol import InvalidResource

RECORDING = Path(recorded.__file__).parent / recorded.VALIDATION
# Refused by kubectl itself (no such kind and version in discovery, no apiVersion).
KUBECTL_CASES = ("unserved-version", "misspelt-kind", "no-apiversion")


def recording() -> dict[str, object]:
    """The recording as it is on disk now (not the reader's cached copy)."""
    return json.loads(RECORDING.read_text())


def answers() -> dict[str, object]:
    """case -> its recorded answer."""
    cases = recording()["cases"]
    assert isinstance(cases, dict)
    return {case: entry["answer"] for case, entry in cases.items()}


def answer_of(case: str) -> str | None:
    return recorded.words(answers()[case])


@pytest.fixture(scope="module")
def istiod() -> Iterator[IstiodControlPlane]:
    directory = Path(tempfile.mkdtemp(prefix="egc-validation-"))
    try:
        with IstiodControlPlane.standalone(directory) as plane:
            yield plane
    finally:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def istio_answer(plane: IstiodControlPlane, manifest: str) -> str | None:
    """What ``kubectl apply --dry-run=server`` prints against istiod (None: accepted)."""
    try:
        documents = load_documents(manifest)
        for document in documents:
            check_served_locally(document)
            kubectl.check_document(document, plane.kinds())
        plane.apply(documents, dry_run=True)
    except InvalidResource as refusal:
        return str(refusal)
    return None


def fake_answer(manifest: str) -> str | None:
    """What the in-memory fake backend answers for ``manifest`` (None: applied)."""
    try:
        FakeCluster().apply(manifest)
    except InvalidResource as refusal:
        return str(refusal)
    return None


def kind_record(kind: kubectl.KindNames) -> dict[str, object]:
    """A served kind as the recording keeps it (the names of Istio's CRDs)."""
    return {
        "kind": kind.kind,
        "group": kind.group,
        "plural": kind.plural,
        "shortNames": list(kind.short_names),
        "versions": list(kind.versions),
    }


def test_recording_is_for_the_running_istio(istiod: IstiodControlPlane) -> None:
    recorded_with = recording()["istio"]
    assert recorded_with == istiod.versions()["istio"], (
        f"{RECORDING} was recorded with istio.io/istio {recorded_with}; "
        "regenerate it with `python tests/unit/test_validation.py` and review the diff"
    )


def test_the_served_kinds_are_istiods(istiod: IstiodControlPlane) -> None:
    assert recording()["kinds"] == [kind_record(kind) for kind in istiod.kinds()]


def test_every_case_is_recorded_with_its_manifest() -> None:
    cases = recording()["cases"]
    assert isinstance(cases, dict)
    assert {case: entry["manifest"] for case, entry in cases.items()} == CASES
    refused = [case for case, answer in answers().items() if answer]
    assert len(refused) >= 25, "keep the refusal cases honest: at least 25 distinct mistakes"
    for case, answer in answers().items():  # Istio's refusals are one line
        assert case in KUBECTL_CASES or "\n" not in (recorded.words(answer) or ""), case


def test_kubectls_answers_were_recorded_from_a_cluster() -> None:
    """The kubectl cases hold kubectl's output and exit code, not the suite's words."""
    recorded_answers = answers()
    for case in KUBECTL_CASES:
        entry = recorded_answers[case]
        assert isinstance(entry, dict) and entry["exit_code"] == 1, case
        assert "kubectl" in entry["note"] and "kind cluster" in entry["note"], case
        assert entry["stderr"][0].startswith(recorded.KUBECTL_ERROR), case
    own = recorded_answers["not-an-istio-resource"]
    assert isinstance(own, dict) and "local mesh's own" in own["note"]


@pytest.mark.parametrize("case", list(CASES))
def test_istiod_answers_as_recorded(istiod: IstiodControlPlane, case: str) -> None:
    """The local mesh's answer (kubectl's checks, then egress-istiod) is the recorded one:
    Istio's, or for KUBECTL_CASES kubectl's on a kind cluster."""
    assert istio_answer(istiod, CASES[case]) == answer_of(case)


# The local mesh's own refusal is not a cluster's: the fake, like kind, reads the Service
# as kubectl reads a kind its cluster does not serve (the fake serves Istio's kinds only).
FAKE_DIFFERENCES = {"not-an-istio-resource"}


@pytest.mark.parametrize("case", [case for case in CASES if case not in FAKE_DIFFERENCES])
def test_the_fake_answers_as_recorded(case: str) -> None:
    assert fake_answer(CASES[case]) == answer_of(case)


def test_the_fake_accepts_what_is_not_recorded() -> None:
    unrecorded = CASES["resolution-enum"].replace("name: httpbin-ext", "name: another")
    assert recorded.refusal(load_documents(unrecorded)[0]) is None
    assert fake_answer(unrecorded) is None


# On kind (EGRESS_KIND_E2E=1): the kind backend, and kubectl itself, against the recording.


@pytest.fixture(scope="module")
def kind() -> Iterator[KubeCluster]:
    from clusters.kind.backend import BACKEND, KindOptions

    with BACKEND.start(KindOptions()) as cluster:
        yield cluster


def kubectl_apply(cluster: KubeCluster, manifest: str) -> subprocess.CompletedProcess[str]:
    """``kubectl apply -f -`` as --literal runs it: the shell's kubeconfig and PATH (the
    kit's kubectl first)."""
    env = {**os.environ, **cluster.shell_env()}
    return subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=manifest, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.kit
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("case", KUBECTL_CASES)
def test_kind_answers_as_kubectl_recorded(kind: KubeCluster, case: str) -> None:
    """kubectl still prints what was recorded, and the kind backend refuses in its words."""
    entry = answers()[case]
    assert isinstance(entry, dict)
    printed = kubectl_apply(kind, CASES[case])
    assert (printed.stderr.splitlines(), printed.returncode) == (
        entry["stderr"],
        entry["exit_code"],
    )
    with pytest.raises(InvalidResource) as refused:
        kind.apply(CASES[case])
    assert str(refused.value) == answer_of(case)


def local_refusal(manifest: str) -> str:
    """The local mesh's own refusal of a kind it does not serve."""
    with pytest.raises(InvalidResource) as refused:
        check_served_locally(load_documents(manifest)[0])
    return str(refused.value)


def write_recording(record: dict[str, object]) -> None:
    RECORDING.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def record_istio() -> None:
    """Ask the pinned Istio for its served kinds and every case, and write the recording;
    the entries recorded elsewhere (kubectl's, the local mesh's own) are kept as they are."""
    kept = {case: a for case, a in answers().items() if isinstance(a, dict)}
    directory = Path(tempfile.mkdtemp(prefix="egc-validation-"))
    with IstiodControlPlane.standalone(directory) as plane:
        cases = {
            case: {"manifest": manifest, "answer": kept.get(case) or istio_answer(plane, manifest)}
            for case, manifest in CASES.items()
        }
        write_recording(
            {
                "istio": plane.versions()["istio"],
                "kinds": [kind_record(kind) for kind in plane.kinds()],
                "cases": cases,
            }
        )
    print(f"wrote {RECORDING}: {sum(1 for c in cases.values() if c['answer'])} refusals")


def record_kubectl() -> None:
    """Create a kind cluster with Istio (the kit, torn down at the end), run the kit's
    ``kubectl apply -f -`` of each KUBECTL_CASES manifest, and write what it printed on
    stderr and its exit code into the recording."""
    from clusters.kind.backend import BACKEND, KindOptions

    record = recording()
    cases = record["cases"]
    assert isinstance(cases, dict)
    with BACKEND.start(KindOptions()) as cluster:
        env = {**os.environ, **cluster.shell_env()}
        version = json.loads(
            subprocess.run(
                ["kubectl", "version", "-o", "json"],
                env=env, capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        client, server = version["clientVersion"], version["serverVersion"]
        note = (
            f"kubectl {client['gitVersion']} (the kit's) `kubectl apply -f -` against a kind "
            f"cluster of Kubernetes {server['gitVersion']} with Istio "
            f"{cluster.describe()['istio']}'s CRDs, recorded by "
            f"`python tests/unit/test_validation.py kind` on {datetime.date.today().isoformat()}"
        )
        for case in KUBECTL_CASES:
            printed = kubectl_apply(cluster, CASES[case])
            cases[case]["answer"] = {
                "stderr": printed.stderr.splitlines(),
                "exit_code": printed.returncode,
                "note": note,
            }
        service = kubectl_apply(cluster, CASES["not-an-istio-resource"])
        cases["not-an-istio-resource"]["answer"] = {
            "answer": local_refusal(CASES["not-an-istio-resource"]),
            "note": (
                "the local mesh's own refusal (clusters/local/mesh.py, check_served_locally): "
                "its API server holds Istio's kinds only. A kind cluster serves Services; "
                f"there {client['gitVersion']}'s kubectl printed "
                f"{service.stderr.strip() or service.stdout.strip()!r} "
                f"(exit {service.returncode}) for this manifest"
            ),
        }
    write_recording(record)
    print(f"wrote {RECORDING}: kubectl's answers for {', '.join(KUBECTL_CASES)}")


if __name__ == "__main__":
    record_kubectl() if sys.argv[1:] == ["kind"] else record_istio()
