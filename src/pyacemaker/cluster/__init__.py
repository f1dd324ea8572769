"""Scale-out: FireWorks launchpads on MongoDB, job routing, submission, status and queries.

``pyacemaker run`` needs none of this (embedded store, one machine). For clusters the
same flow is submitted to a FireWorks launchpad (``pyacemaker submit``), workers started
by ``rlaunch``/``qlaunch`` run it, and results land in a MongoDB job store.
"""
