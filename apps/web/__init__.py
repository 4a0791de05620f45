"""The web service's sample site (see :mod:`apps.web.app`)."""
