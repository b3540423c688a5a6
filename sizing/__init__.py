"""The ground floor: pure knowledge with no settings, no Pulumi and no I/O.

PostgreSQL parameters derived from a pod's size, what an AKS node offers pods. Every other layer may
import it; it imports nothing of the project.
"""
