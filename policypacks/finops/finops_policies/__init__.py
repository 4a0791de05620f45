"""Summit FinOps policies (importable by tests; ``__main__.py`` only assembles the pack)."""

from finops_policies.policies import (
    POLICIES,
    cost_allocation_tags,
    cpu_request_cap,
    instance_class_deny_list,
    memory_request_cap,
    preview_cost_cap,
    right_size_hints,
)

__all__ = [
    "POLICIES",
    "cost_allocation_tags",
    "cpu_request_cap",
    "instance_class_deny_list",
    "memory_request_cap",
    "preview_cost_cap",
    "right_size_hints",
]
