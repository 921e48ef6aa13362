"""What ``tlsdoctor fix`` computes and writes; the network side lives elsewhere.

::

    chain.py    plan_chain: the chain a server should send, and how it differs from what it sends
    files.py    PEM bundles, private keys (does the key fit the certificate?), atomic writes
    servers.py  the server software from its Server header, and the exact configuration text

Nothing here reads the clock or the network: the callers pass the time, the certificates
they fetched and the trust anchors. Import the modules themselves; this package imports
nothing, so ``tlsdoctor --help`` does not pay for it.
"""
