"""DNS-01 (RFC 8555 section 8.4): the answer is a TXT record at ``_acme-challenge.NAME``.

The only challenge for wildcards, and for hosts without a public port 80. The record is
set by a hook, the owner's own command (certbot's manual-auth-hook contract: the name in
``CERTBOT_DOMAIN``, the value in ``CERTBOT_VALIDATION``, and here ``TLSDOCTOR_DNS_ACTION``
``present`` or ``cleanup``), so any DNS provider's API or tool works.
"""

from __future__ import annotations

from tlsdoctor.certs.renew_run import run_hook


def record_name(name: str) -> str:
    """Where the CA looks for ``name``'s answer (a wildcard's base name's record)."""
    return "_acme-challenge." + name.removeprefix("*.").rstrip(".")


class HookDnsResponder:
    """TXT records set and removed by the owner's command."""

    kind = "dns-01"

    def __init__(self, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout

    def _run(self, action: str, name: str, token: str, validation: str) -> None:
        environment = {
            "TLSDOCTOR_DNS_ACTION": action,
            "TLSDOCTOR_DNS_RECORD": record_name(name),
            "CERTBOT_DOMAIN": name,
            "CERTBOT_VALIDATION": validation,
            "CERTBOT_TOKEN": token,
        }
        run_hook(self.command, f"DNS ({action})", self.timeout, environment)

    def publish(self, name: str, token: str, validation: str) -> None:
        self._run("present", name, token, validation)

    def settle(self) -> None:
        pass  # the hook returns once the record is served (certbot's contract too)

    def withdraw(self, name: str, token: str) -> None:
        # Cleaning up is best effort: a failure leaves a harmless TXT record behind.
        import contextlib

        from tlsdoctor.errors import InputError

        with contextlib.suppress(InputError):
            self._run("cleanup", name, token, "")

    def describe(self) -> str:
        return f"the DNS hook '{self.command}'"
