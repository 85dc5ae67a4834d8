"""A deterministic synthetic GPU fleet in the landing zone's real formats, with its truth."""

from synth.fleet import Fleet, build_fleet
from synth.writers import write_landing_zone

__all__ = ["Fleet", "build_fleet", "write_landing_zone"]
