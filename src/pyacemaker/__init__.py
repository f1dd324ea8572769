"""pyacemaker: from a material to a validated ACE potential."""
