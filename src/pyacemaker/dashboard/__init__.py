"""``pyacemaker dashboard``: a read-only local web view of runs while they run.

``source`` reads runs from the embedded store or a FireWorks launchpad, ``extract``
turns a run's output documents and files into tables and series, ``figures`` draws
them with plotly and ``app`` is the dash application that polls and redraws.
"""
