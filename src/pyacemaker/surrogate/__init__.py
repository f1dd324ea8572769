"""surrogate stage of pyacemaker."""
