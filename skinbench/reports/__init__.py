"""Reports of skinbench runs: cost tables, the paper's Tables III-IV, Pareto fronts, figures.

Modules: :mod:`~skinbench.reports.paper` (the paper's printed numbers),
:mod:`~skinbench.reports.deviation` (relative change, percentage points),
:mod:`~skinbench.reports.tables` (the tables and their md/tex/csv/json writer),
:mod:`~skinbench.reports.pareto`, :mod:`~skinbench.reports.figures`,
:mod:`~skinbench.reports.runs` (reading run folders), :mod:`~skinbench.reports.render`
(markdown and HTML) and :mod:`~skinbench.reports.report` (``skinbench report``).
"""
