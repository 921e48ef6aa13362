"""What every command's ``--help`` ends with: a summary that fits the command list, two
examples to copy, and the exit codes. One table, so that every command says it the same
way (tests/test_help.py walks every command and holds each to it)."""

from __future__ import annotations

import click

CHECK_CODES = "0 trusted, 1 trusted with warnings, 2 untrusted, 3 could not check or bad usage"
DONE_CODES = "0 done, 3 bad usage or it could not be done"
GROUP_CODES = "those of the subcommand; 3 for bad usage"
STORE_CODES = "0 every store as wanted, 1 partly done (each store says why), 3 none, or bad usage"

# The longest summary the command list shows whole: click leaves the list 78 columns at
# most, less 6 and the longest command name ("test-notify").
MAX_SUMMARY = 55


class Help:
    """The summary, examples and exit codes of one command."""

    def __init__(self, summary: str, examples: tuple[str, ...], codes: str) -> None:
        self.summary = summary
        self.examples = examples
        self.codes = codes


HELP: dict[str, Help] = {
    "tlsdoctor": Help(
        "Why a TLS connection is not trusted, and the fix.",
        ("tlsdoctor check example.com", "tlsdoctor explain 'x509: certificate signed by unknown'"),
        GROUP_CODES,
    ),
    "check": Help(
        "Diagnose endpoints (HOST, URL, -f FILE) or chain files.",
        (
            "tlsdoctor check example.com",
            "tlsdoctor check -f targets.txt --json > reports.jsonl",
            "tlsdoctor check --chain fullchain.pem --host www.example.com",
        ),
        CHECK_CODES,
    ),
    "inspect": Help(
        "Show certificates as a browser's viewer does.",
        ("tlsdoctor inspect fullchain.pem", "tlsdoctor inspect --json server.p12"),
        "0 read, 3 unreadable or not a certificate",
    ),
    "explain": Help(
        "Explain any client's error message.",
        (
            "tlsdoctor explain 'curl: (60) SSL certificate problem: unable to get local issuer'",
            "journalctl -u app | tlsdoctor explain - --host api.example.com",
        ),
        "0 recognised (with --host: the check's code), 3 not recognised or bad usage",
    ),
    "lab": Help(
        "Serve every failure on loopback, to test clients.",
        ("tlsdoctor lab", "tlsdoctor lab --json --dir ./lab"),
        "0 stopped with Ctrl-C, 3 could not start",
    ),
    "demo": Help(
        "Start the lab and diagnose each of its endpoints.",
        ("tlsdoctor demo", "tlsdoctor demo expired wrong-host --full"),
        "0 every diagnosis as expected, 1 not, 3 bad usage",
    ),
    "fix": Help(
        "Repair what a check found (the chain a server sends).",
        (
            "tlsdoctor fix chain example.com -o /etc/ssl/example",
            "tlsdoctor fix chain --chain cert.pem --fetch",
        ),
        GROUP_CODES,
    ),
    "fix chain": Help(
        "Build, show and write the chain a server should send.",
        (
            "tlsdoctor fix chain example.com -o ./chain",
            "tlsdoctor fix chain --chain cert.pem --with intermediate.pem --key key.pem -o .",
        ),
        "0 a trusted chain is planned (and written with -o), 2 none can be built, 3 bad usage",
    ),
    "trust": Help(
        "What each client trusts; add or remove a CA.",
        ("tlsdoctor trust list", "tlsdoctor trust add corp-root.pem --dry-run"),
        GROUP_CODES,
    ),
    "trust list": Help(
        "Every trust store here and who reads it.",
        ("tlsdoctor trust list", "tlsdoctor trust list --json"),
        "0 listed, 3 bad usage",
    ),
    "trust find": Help(
        "Which stores trust a CA, or the root a HOST uses.",
        (
            "tlsdoctor trust find corp-root.pem",
            "tlsdoctor trust find intranet.example --save root.pem",
        ),
        "0 some store trusts it, 2 none does, 3 could not check or bad usage",
    ),
    "trust add": Help(
        "Add a CA to the stores your clients read.",
        (
            "tlsdoctor trust add corp-root.pem --dry-run",
            "sudo tlsdoctor trust add corp-root.pem --store system --yes",
        ),
        STORE_CODES,
    ),
    "trust remove": Help(
        "Undo what trust add did.",
        (
            "tlsdoctor trust remove corp-root.pem --dry-run",
            "sudo tlsdoctor trust remove corp-root.pem --yes",
        ),
        STORE_CODES,
    ),
    "trust env": Help(
        "Variables that make tools trust a CA, per shell.",
        (
            'eval "$(tlsdoctor trust env corp-root.pem)"',
            "tlsdoctor trust env corp-root.pem --shell fish",
        ),
        DONE_CODES,
    ),
    "cert": Help(
        "Keys, CSRs and certificates with the right names.",
        (
            "tlsdoctor cert csr example.com",
            "tlsdoctor cert renew --acme-directory letsencrypt --domain example.com "
            "--webroot /var/www",
        ),
        GROUP_CODES,
    ),
    "cert csr": Help(
        "A new key and a CSR covering what visitors type.",
        (
            "tlsdoctor cert csr example.com",
            "tlsdoctor cert csr --from-host example.com -o ./renewal",
        ),
        DONE_CODES,
    ),
    "cert ca": Help(
        "A local CA for internal networks.",
        (
            "tlsdoctor cert ca init --name 'Acme Internal CA' --permit acme.test",
            "tlsdoctor cert issue app.acme.test",
        ),
        GROUP_CODES,
    ),
    "cert ca init": Help(
        "Create a name-constrained local CA.",
        (
            "tlsdoctor cert ca init --name 'Acme Internal CA' --permit acme.test",
            "tlsdoctor cert ca init --name 'Lab CA' --permit 10.0.0.0/8 --trust --yes",
        ),
        DONE_CODES,
    ),
    "cert issue": Help(
        "A server certificate from the local CA, checked.",
        (
            "tlsdoctor cert issue app.acme.test",
            "tlsdoctor cert issue app.acme.test --days 30 -o /etc/ssl/app",
        ),
        DONE_CODES,
    ),
    "cert ca sign": Help(
        "Sign a CSR with the local CA, within its constraints.",
        (
            "tlsdoctor cert ca sign app.csr --ca ~/acme-ca -o /etc/ssl/app",
            "tlsdoctor cert ca sign alice.csr --client --days 30",
        ),
        DONE_CODES,
    ),
    "cert revoke": Help(
        "Ask the ACME CA to revoke a certificate.",
        (
            "tlsdoctor cert revoke -o /etc/tlsdoctor/example.com --reason keyCompromise",
            "tlsdoctor cert revoke -o /etc/tlsdoctor/old.example.com --reason superseded --delete",
        ),
        DONE_CODES,
    ),
    "cert schedule": Help(
        "Run `cert renew --all` twice a day (systemd or cron).",
        ("tlsdoctor cert schedule --install /etc/systemd/system", "tlsdoctor cert schedule --cron"),
        DONE_CODES,
    ),
    "cert renew": Help(
        "Get or renew a certificate from an ACME CA.",
        (
            "tlsdoctor cert renew --acme-directory letsencrypt --domain example.com "
            "--webroot /var/www",
            "tlsdoctor cert renew --acme-directory letsencrypt --domain example.com "
            "--standalone --if-due --deploy-hook 'systemctl reload nginx'",
        ),
        "0 installed (or not due yet with --if-due), 3 failed or bad usage",
    ),
    "watch": Help(
        "Watch endpoints over time: alerts, metrics, dashboard.",
        ("tlsdoctor watch add example.com --every 1h", "tlsdoctor watch run"),
        GROUP_CODES,
    ),
    "watch add": Help(
        "Add targets to watch (or change how).",
        (
            "tlsdoctor watch add example.com api.example.com:8443",
            "tlsdoctor watch add mail.example.com:25 --starttls smtp --every 30m",
        ),
        DONE_CODES,
    ),
    "watch mute": Help(
        "Tell nobody about a target's alerts until a time.",
        (
            "tlsdoctor watch mute shop.example.com --for 2h",
            "tlsdoctor watch mute shop.example.com --off",
        ),
        "0 done, 3 a target was not watched or bad usage",
    ),
    "watch remove": Help(
        "Stop watching targets.",
        ("tlsdoctor watch remove example.com", "tlsdoctor watch remove a.example b.example:8443"),
        "0 removed, 3 a target was not watched or bad usage",
    ),
    "watch import": Help(
        "Add the targets of a TOML or plain watch list.",
        ("tlsdoctor watch import watch.toml", "tlsdoctor watch import targets.txt"),
        DONE_CODES,
    ),
    "watch export": Help(
        "The watch list as TOML.",
        ("tlsdoctor watch export", "tlsdoctor watch export -o watch.toml"),
        DONE_CODES,
    ),
    "watch list": Help(
        "Each target's latest verdict and days left.",
        ("tlsdoctor watch list", "tlsdoctor watch list --db sqlite:///watch.db --json"),
        "0 listed, 3 bad usage",
    ),
    "watch once": Help(
        "Check the due targets once, then alert (for cron).",
        ("tlsdoctor watch once", "tlsdoctor watch once --all --json"),
        "the worst current state of the list, as check: " + CHECK_CODES,
    ),
    "watch run": Help(
        "The daemon: check when due, store, alert.",
        ("tlsdoctor watch run", "tlsdoctor watch --config /etc/tlsdoctor/watch.toml run"),
        "0 stopped with SIGTERM or Ctrl-C, 3 could not start",
    ),
    "watch history": Help(
        "What changed and when, newest first.",
        (
            "tlsdoctor watch history example.com",
            "tlsdoctor watch history example.com --limit 10 --json",
        ),
        "0 shown, 3 bad usage",
    ),
    "watch prune": Help(
        "Delete old states and settled alerts.",
        ("tlsdoctor watch prune", "tlsdoctor watch prune --keep 30d"),
        DONE_CODES,
    ),
    "watch calendar": Help(
        "Certificate expiries as an iCalendar file.",
        (
            "tlsdoctor watch calendar -o expiries.ics",
            "tlsdoctor watch calendar --alarm 14 --alarm 3",
        ),
        DONE_CODES,
    ),
    "watch metrics": Help(
        "Prometheus metrics, for the textfile collector.",
        (
            "tlsdoctor watch metrics",
            "tlsdoctor watch metrics -o /var/lib/node_exporter/tlsdoctor.prom",
        ),
        DONE_CODES,
    ),
    "watch serve": Help(
        "The dashboard, a JSON API and /metrics.",
        (
            "tlsdoctor watch serve",
            "TOKEN=s3cret tlsdoctor watch serve --host 0.0.0.0 --token-env TOKEN",
        ),
        "0 stopped with Ctrl-C, 3 could not start or bad usage",
    ),
    "watch test-notify": Help(
        "Send a sample alert through each notifier.",
        ("tlsdoctor watch test-notify", "tlsdoctor watch test-notify --notifier ops-mail"),
        "0 every notifier delivered, 3 one failed or bad usage",
    ),
}


def document(command: click.Command, path: str = "tlsdoctor") -> None:
    """Give ``command`` and every subcommand its summary, examples and exit codes.
    A command missing from :data:`HELP` keeps what it has (the test names it)."""
    entry = HELP.get(path)
    if entry is not None:
        command.short_help = entry.summary
        # \b: click keeps these lines as they are (commands are copied, not re-wrapped).
        examples = "\n".join(f"  {example}" for example in entry.examples)
        command.epilog = f"\b\nExamples:\n{examples}\n\nExit codes: {entry.codes}."
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            document(sub, name if path == "tlsdoctor" else f"{path} {name}")
