"""Pure builders: manifests, parameters and names computed from settings, no resources."""
