"""Network I/O only: resolve, connect, STARTTLS, one unverified handshake, the server's clock.

The probe gathers evidence and judges nothing: what it saw (the chain as presented, the
negotiated version and cipher, alerts, the HTTP ``Date``) goes to ``tlsdoctor.analysis``.
Every step has a timeout, and every foreign exception becomes a
:class:`tlsdoctor.errors.ProbeError` in one place (:mod:`tlsdoctor.probe.failures`).
"""
