"""Pure analysis: (certificates, trust anchors, time, host name) -> findings.

Nothing in this package opens a socket, reads a trust store or asks for the time: every
input is an argument, so every finding can be tested offline and ``--at`` / ``--ca-file``
work everywhere.
"""
