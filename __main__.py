"""The Summit Platform Pulumi program: load the typed config, build the environment, export."""

import pulumi

from summit_platform.stacks.platform import build
from summit_platform.stacks.pulumi_config import from_pulumi_config

for key, value in build(from_pulumi_config()).items():
    pulumi.export(key, value)
