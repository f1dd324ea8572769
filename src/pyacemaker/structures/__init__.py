"""structures stage of pyacemaker."""
