"""FinOps: the cost model over plan graphs, estimates and PR comments, OpenCost
reconciliation, per-PR preview stacks with idle teardown, and budget alerts
(``summit finops`` and ``summit previews``)."""
