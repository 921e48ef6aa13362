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

# Options of the certificate commands that write files with the local CA's key.
WRITTEN_AS_JSON = click.option(
    "--json", "as_json", is_flag=True, help="Say what was written as JSON."
)
REPLACE_FILES = click.option(
    "--force", is_flag=True, help="Replace existing key and certificate files."
)
CA_KEY_PASSPHRASE = click.option(
    "--passphrase-env",
    metavar="VAR",
    help="The CA key's passphrase (from cert ca init) is in $VAR; not --password.",
)
OUTPUT_HERE = click.option(
    "-o", "--output", metavar="DIR", default=".", show_default=True, help="Write the files here."
)
LEAF_DAYS = click.option(
    "--days", type=int, default=90, show_default=True, help="How long the certificate is valid."
)
CA_DIRECTORY = click.option(
    "--ca", "ca_dir", metavar="DIR", help="The CA's directory (cert ca init -o)."
)
