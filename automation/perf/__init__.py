"""Performance budgets: read k6 and Locust results, compare them with per-endpoint budgets and
the main-branch baseline, decide pass / fail / inconclusive, and keep a nightly trend.

Layout: :mod:`.digest` (mergeable percentile digest), :mod:`.model` (plain result types),
:mod:`.ingest` (streaming readers), :mod:`.budgets` (the typed budgets file), :mod:`.gate`
(pure decisions), :mod:`.report` (JSON / Markdown / table), :mod:`.trend` (history and plot),
:mod:`.cli` (``summit perf``).
"""
