"""Cut-outs around uncertain atoms: periodic embedding, passivated clusters, force masks."""
