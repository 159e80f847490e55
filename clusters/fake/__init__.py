"""``fake``: an in-memory backend, like httpx's MockTransport (see cluster.py)."""

from clusters.fake.cluster import FakeCluster, Handler, default_handler

__all__ = ["FakeCluster", "Handler", "default_handler"]
