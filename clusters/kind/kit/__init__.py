"""The offline kit: everything a kind cluster needs, built on this machine.

No registry is reachable, so the node image, the control-plane images and the tools
(kind itself) are built here from Debian packages and Go modules, and cached under
``~/.cache/egress-conformance/kind/``. Modules: ``cache`` (paths, locks,
progress), ``gobuild`` (static Go binaries from modules), ``rootfs`` (the debootstrap
base), ``node`` (the kind node image), ``config`` (the kind cluster config).
"""
