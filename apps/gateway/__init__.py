"""The gateway's sample HTTP service (see :mod:`summit_platform.apps.gateway.app`)."""
