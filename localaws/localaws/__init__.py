"""Local AWS: moto in server mode on loopback plus our extensions where moto falls short."""
