"""validation stage of pyacemaker."""
