"""Wires the suite's layers into pytest: lifecycle fixtures, step records, reports, and the
steps.

features/ says what the page claims, steps/ is the vocabulary bound to the Cluster
protocol, fixtures/ owns the mesh's lifecycle, the step records and the reports: one
plugin per report format under fixtures/reports/, each reading the run's outcome.
"""

pytest_plugins = [
    "fixtures.page_plugin",
    "fixtures.options",
    "fixtures.journal",
    "fixtures.literal_plugin",
    "fixtures.diagnostics",
    "fixtures.cluster",
    "fixtures.scheduling",
    "fixtures.reports.outcome",
    "fixtures.reports.page_view",
    "fixtures.reports.summary_json",
    "fixtures.reports.page_patch",
    "fixtures.reports.allure_results",
    "fixtures.reports.html_extras",
    "fixtures.reports.junit_properties",
    "steps.state",
    # steps.config before steps.pod, which imports it: pytest rewrites the asserts of a
    # plugin module only when it is the first to import it.
    "steps.config",
    "steps.pod",
    "steps.traffic",
    "steps.sidecar_log",
    "steps.drift",
    "steps.platform",
]
