"""Backends on a real Kubernetes cluster with Istio (kind, existing)."""
