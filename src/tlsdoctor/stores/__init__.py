"""Trust stores: the places a user's clients really read roots from.

Each backend is one module offering the same small interface (:class:`TrustStore`), chosen
in one place (:mod:`tlsdoctor.stores.registry`). Changes are planned first (the exact
commands and files, shown by ``--dry-run``) and applied second; every applied change is
recorded so that ``trust remove`` undoes exactly that.
"""
