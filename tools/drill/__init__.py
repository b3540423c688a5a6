"""Failover and restore drills: a lab on loopback PostgreSQL, and drills against a deployed stack."""
