"""ace stage of pyacemaker."""
