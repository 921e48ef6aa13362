"""Alerts appended to a file, one JSON object a line: a record, and the place for
info-level alerts (renewals) that should not page anyone."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from tlsdoctor.monitor.notify.base import NotifyError, alert_to_dict
from tlsdoctor.monitor.notify.config import LogConfig
from tlsdoctor.watch_model import Alert


@dataclass(frozen=True)
class LogNotifier:
    """Appends each alert to ``config.path`` as one JSON line."""

    config: LogConfig

    @property
    def name(self) -> str:
        return self.config.name

    def send(self, alert: Alert) -> None:
        line = json.dumps(alert_to_dict(alert), ensure_ascii=False, default=str) + "\n"
        try:
            # One write to a file opened O_APPEND: lines of concurrent watches never mix.
            fd = os.open(self.config.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise NotifyError(self.name, f"cannot append to {self.config.path}: {reason}") from None
