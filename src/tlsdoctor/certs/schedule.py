"""The timer that runs ``cert renew --all``: systemd units or a crontab line.

Twice a day with a random delay, as certbot's Debian packaging does (debian/certbot.timer:
``OnCalendar=*-*-* 00,12:00:00``, ``RandomizedDelaySec=3600``, ``Persistent=true``; its
cron.d file: ``0 */12 * * * root perl -e 'sleep int(rand(3600))'; certbot -q renew``), so
that the CA does not see every client of the world at midnight; ``Persistent=true``
catches up a run missed while the machine was off.
Renewal itself decides what is due, so running often costs one ARI query per certificate.
"""

from __future__ import annotations

import random
import shlex
from collections.abc import Sequence

SERVICE = "tlsdoctor-renew.service"
TIMER = "tlsdoctor-renew.timer"
RANDOM_DELAY_SECONDS = 3600


def systemd_units(command: Sequence[str]) -> dict[str, str]:
    """The service and timer files, by file name."""
    return {
        SERVICE: (
            "[Unit]\n"
            "Description=Renew the certificates tlsdoctor manages\n"
            "Wants=network-online.target\n"
            "After=network-online.target\n\n"
            "[Service]\n"
            "Type=oneshot\n"
            f"ExecStart={shlex.join([*command, 'cert', 'renew', '--all'])}\n"
        ),
        TIMER: (
            "[Unit]\n"
            "Description=Run tlsdoctor cert renew --all twice a day\n\n"
            "[Timer]\n"
            "OnCalendar=*-*-* 00,12:00:00\n"
            f"RandomizedDelaySec={RANDOM_DELAY_SECONDS}\n"
            "Persistent=true\n\n"
            "[Install]\n"
            "WantedBy=timers.target\n"
        ),
    }


def cron_line(command: Sequence[str], rng: random.Random | None = None) -> str:
    """A crontab line (the user's crontab: no user field): a minute drawn once here, and
    a random sleep within the hour at every run."""
    minute = (rng or random.SystemRandom()).randrange(60)
    renew = shlex.join([*command, "cert", "renew", "--all"])
    return f"{minute} */12 * * * perl -e 'sleep int(rand(3600))' && {renew} >/dev/null"
