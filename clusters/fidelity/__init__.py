"""``make fidelity``: how far the local mesh is from a real cluster (kind), with the
same Istio build on both.

A corpus of Istio configs (``corpus/*.yaml``, one case per file) is applied on both
through the Cluster protocol. For each case the Envoy config each sidecar runs is
normalised and compared, and so is what traffic observes: ``local vs kind: N/M
identical``, with the differences listed by case and grouped by what differs.
README.md in this directory says how to run it and read it.
"""
