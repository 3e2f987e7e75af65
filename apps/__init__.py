"""Runnable applications: the ``passerelle`` command line and the web portal. Nothing imports this."""
