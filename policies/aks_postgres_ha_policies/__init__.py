"""Policies of the aks-postgres-ha pack, one concern per module.

A package with a distinctive name because the CLI puts the pack directory first on
``sys.path``: generic module names (``storage``, ``common``) could shadow installed modules.
"""
