"""Local AWS: moto in server mode on loopback plus our extensions where moto falls short.

A package of its own (``localaws/pyproject.toml``), with its own command (``localaws up | down |
status | serve``) and tests (``localaws/tests``). It imports nothing from the product that uses it:
seeding reads a fleet config as plain YAML (``seed_config``).
"""
