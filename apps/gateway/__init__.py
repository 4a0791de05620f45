"""The gateway's sample HTTP service (see :mod:`apps.gateway.app`)."""
