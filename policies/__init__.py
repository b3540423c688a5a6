"""The aks-postgres-ha policy pack (run by the Pulumi CLI through ``__main__.py``).

This file only gives the pack's modules a package name of their own (``policies.*``) for the
project's type checker, so ``policies/__main__.py`` does not collide with the program's
``__main__.py``. The CLI runs the directory as a script and never imports this package.
"""
