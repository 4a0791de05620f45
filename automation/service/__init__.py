"""``summit service``: the paved road's bootstrap (``new``) and template upgrades (``upgrade``)."""
