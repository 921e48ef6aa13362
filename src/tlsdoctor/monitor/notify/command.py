"""A program run per alert: the alert as JSON on stdin, its fields in the environment."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
from dataclasses import dataclass

from tlsdoctor.models import rfc3339
from tlsdoctor.monitor.notify.base import NotifyError, alert_to_dict
from tlsdoctor.monitor.notify.config import CommandConfig
from tlsdoctor.watch_model import Alert

log = logging.getLogger(__name__)


def command_env(alert: Alert) -> dict[str, str]:
    """The environment variables a command hook gets (added to the watch's own)."""
    return {
        "TLSDOCTOR_ALERT_KIND": alert.kind.value,
        "TLSDOCTOR_ALERT_SEVERITY": alert.severity.value,
        "TLSDOCTOR_ALERT_TARGET": alert.target,
        "TLSDOCTOR_ALERT_TITLE": alert.title,
        "TLSDOCTOR_ALERT_BODY": alert.body,
        "TLSDOCTOR_ALERT_KEY": alert.key,
        "TLSDOCTOR_ALERT_RAISED_AT": rfc3339(alert.raised_at),
    }


@dataclass(frozen=True)
class CommandNotifier:
    """Runs a program per alert; exit status 0 means delivered."""

    config: CommandConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, alert: Alert) -> None:
        config = self.config
        if config.argv is not None:
            args: list[str] = list(config.argv)
            program = args[0]
        elif config.shell is not None:
            args = ["/bin/sh", "-c", config.shell]
            program = "/bin/sh"
        else:
            raise NotifyError(config.name, "no command is configured", permanent=True)
        stdin = json.dumps(alert_to_dict(alert), ensure_ascii=False).encode()
        env = {**os.environ, **command_env(alert)}
        try:
            # A session of its own, so that a timeout kills the whole group: a shell's
            # children would otherwise keep the pipes open and communicate() waiting.
            process = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise NotifyError(config.name, f"command not found: {program}") from None
        except PermissionError:
            raise NotifyError(config.name, f"command not executable: {program}") from None
        except OSError as exc:
            raise NotifyError(config.name, f"cannot run {program}: {exc.strerror}") from None
        try:
            _, stderr = process.communicate(stdin, timeout=config.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise NotifyError(
                config.name, f"{program} did not finish within {config.timeout:g} s; killed"
            ) from None
        if process.returncode != 0:
            lines = stderr.decode("utf-8", "replace").strip().splitlines()
            detail = f": {lines[-1][:200]}" if lines else ""
            raise NotifyError(
                config.name, f"{program} exited with status {process.returncode}{detail}"
            )
        log.debug("%s: ran for %s (%s)", config.name, alert.key, alert.target)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups of this kind
            process.kill()
    except ProcessLookupError:
        pass
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=5)
