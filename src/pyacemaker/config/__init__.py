"""config stage of pyacemaker."""
