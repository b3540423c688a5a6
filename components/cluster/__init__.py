"""In-cluster resources, through the Kubernetes provider: operators, the database and what serves it."""
