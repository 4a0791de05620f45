"""The web service's sample site (see :mod:`summit_platform.apps.web.app`)."""
