"""The program's own layer, under __main__.py: what the stack promises its users (outputs)."""
