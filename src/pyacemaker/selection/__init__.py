"""selection stage of pyacemaker."""
