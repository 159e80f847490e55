"""The fidelity corpus (clusters/fidelity/corpus) as data: every case loads, the page's
manifests are in it, placeholders are the known ones, and mistakes read in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clusters.fidelity.addresses import placeholders_in
from clusters.fidelity.corpus import SITES_FILE, CorpusError, load_case, load_corpus
from clusters.istio.kubectl_documents import load_documents
from fixtures.page import manifests


def test_corpus_loads_with_the_pages_manifests_and_enough_cases_beyond() -> None:
    cases = load_corpus()
    assert len({case.name for case in cases}) == len(cases) >= 65
    page = [case for case in cases if case.name.startswith("page-")]
    assert len(cases) - len(page) >= 25
    applied = [yaml.safe_load_all(s.apply) for case in page for s in case.steps if s.apply]
    documents = [document for stream in applied for document in stream]
    for manifest in (
        manifests.httpbin_service_entry(),
        manifests.google_service_entry(),
        manifests.httpbin_timeout_virtual_service(),
    ):
        assert load_documents(manifest)[0] in documents
    assert {case.mode.value for case in page} == {"ALLOW_ANY", "REGISTRY_ONLY"}


def test_no_case_writes_one_sides_address() -> None:
    """Site addresses differ by backend: a case names them by placeholder, for hosts the
    corpus' fake internet serves."""
    hosts = {site["host"] for site in yaml.safe_load(SITES_FILE.read_text())["sites"]}
    for case in load_corpus():
        for text in case.texts():
            assert "203.0.113." not in text and "198.51.100." not in text, case.name
            for kind, argument in placeholders_in(text):
                if kind != "vip":
                    assert argument.split("/")[0] in hosts, (case.name, argument)


def test_corpus_file_mistakes_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nmode: REGISTRY_ONLY\nprobes: [{curl: wget http://x}]\n")
    with pytest.raises(CorpusError, match=r"bad.yaml.probes\[0\].curl: expected a command"):
        load_case(path)
    path.write_text("name: bad\nmode: ALLOW_ANY\nprobes: [{curl: 'curl http://${site:x}/'}]\n")
    with pytest.raises(CorpusError, match=r"bad.yaml: \$\{site:x\} is not a placeholder"):
        load_case(path)


def test_a_later_step_may_pause_and_the_first_may_not(tmp_path: Path) -> None:
    path = tmp_path / "pause.yaml"
    probe = "probes: [{curl: 'curl http://httpbin.org/'}]"
    path.write_text(f"name: pause\nmode: ALLOW_ANY\n{probe}\nthen: [{{sleep_s: 1, {probe}}}]\n")
    assert [step.sleep_s for step in load_case(path).steps] == [0.0, 1.0]
    path.write_text(f"name: pause\nmode: ALLOW_ANY\nsleep_s: 1\n{probe}\n")
    with pytest.raises(CorpusError, match=r"pause.yaml: unknown field 'sleep_s'"):
        load_case(path)
    path.write_text(f"name: pause\nmode: ALLOW_ANY\n{probe}\nthen: [{{sleep_s: 60}}]\n")
    with pytest.raises(CorpusError, match=r"then\[0\].sleep_s: 60 is not between 0 and 5"):
        load_case(path)
    path.write_text(f"name: pause\nmode: ALLOW_ANY\n{probe}\nthen: [{{sleep_s: soon}}]\n")
    with pytest.raises(CorpusError, match=r"then\[0\].sleep_s: expected a number of seconds"):
        load_case(path)
