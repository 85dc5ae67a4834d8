"""A deterministic synthetic GPU fleet in the landing zone's real formats, with its truth."""

from pipelines.synth.fleet import Fleet, build_fleet
from pipelines.synth.writers import write_landing_zone

__all__ = ["Fleet", "build_fleet", "write_landing_zone"]
