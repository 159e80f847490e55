"""`make bench`: the embedded mesh with Istio's own istiod, and how it compares with the
figures in docs/local-mesh-facts.md.

bench/run.py is the entry point; the modules here measure (mesh, features), summarise
(stats) and lay out (table) so each stays small enough to read at once.
"""
