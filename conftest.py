"""Wires the suite's layers into pytest: lifecycle fixtures, reports, and the steps.

features/ says what the page claims, steps/ is the vocabulary bound to the Cluster
protocol, fixtures/ owns the mesh's lifecycle and the reports.
"""

pytest_plugins = [
    "fixtures.page_plugin",
    "fixtures.options",
    "fixtures.literal",
    "fixtures.journal",
    "fixtures.cluster",
    "fixtures.outputs",
    "fixtures.report",
    "fixtures.scheduling",
    "steps.state",
    "steps.pod",
    "steps.config",
    "steps.traffic",
    "steps.sidecar_log",
    "steps.drift",
    "steps.platform",
]
