"""``make fidelity``: how far the model control plane (clusters/local/pilot) is from istiod.

A corpus of Istio configs (``corpus/*.yaml``, one case per file) is sent through both
control planes of the local mesh. For each case the Envoy config each one produces is
normalised and compared, and so is what traffic observes. The model is thereby a
measured approximation: ``model vs istiod: N/M identical``, with the remaining
differences listed by case.

Modules: ``corpus`` (loads cases), ``normalise`` (config dump to comparable data),
``probes`` (curl in the pod plus its access-log line), ``runner`` (one case on one mesh),
``compare`` (outcome diffs) and ``__main__`` (the run and its report).
"""
