"""dynamics stage of pyacemaker."""
