"""flows stage of pyacemaker."""
