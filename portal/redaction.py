"""Masks credentials in log records, whichever logger they come from.

Installed on every handler by ``LOGGING`` in settings: upstream secrets (``sk-…``), bearer
values, JWTs and the portal's own tokens must never reach a log line, even when some library
logs a header or a URL we did not expect it to.
"""

from __future__ import annotations

import logging
import re

SECRET_PATTERNS = re.compile(
    r"""
    sk-[A-Za-z0-9_-]{8,}                                    # upstream API secrets
    | pp[kw]_[A-Za-z0-9_]{8,}                               # portal tokens (tenants/credentials)
    | eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*  # JWTs
    | (?<=Bearer\ )[^\s'",]+ | (?<=Token\ )[^\s'",]+         # any Authorization value
    """,
    re.VERBOSE,
)


def redact(text: str) -> str:
    return SECRET_PATTERNS.sub("[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Format once with the arguments, then mask the result: a secret passed as an argument
        # is as dangerous as one written into the message.
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is masked once here.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
