"""The words the commands share, so one option means one thing everywhere (and --help
stays instant: nothing heavy is imported here)."""

from __future__ import annotations

import click

DEFAULT_TIMEOUT = 10.0  # seconds for a whole check: tlsdoctor.live.DEFAULT_TIMEOUT
# One meaning everywhere: --password reads what exists (a PKCS#12, an encrypted key);
# --passphrase-env (cert csr) encrypts a key being made.
PASSWORD_HELP = (
    "Password of a PKCS#12 file or an encrypted key being read (or set TLSDOCTOR_PASSWORD)."
)
DEFAULT_CONCURRENCY = 50  # tlsdoctor.scan.DEFAULT_CONCURRENCY

EXIT_ERROR = 3


# certs.csr.KeyType's values, written out so that --help does not import cryptography.
KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")
KEY_TYPE = click.option(
    "--key-type",
    type=click.Choice(KEY_TYPES),
    default="ec-p256",
    show_default=True,
    help="The new key's algorithm and size.",
)
