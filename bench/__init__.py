"""`make bench`: the embedded mesh with istiod and with the model, side by side, and how
both compare with the figures in the local-mesh notes.

bench/run.py is the entry point; the modules here measure (mesh, features), summarise
(stats) and lay out (table) so each stays small enough to read at once.
"""
