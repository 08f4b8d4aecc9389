from __future__ import annotations

import logging

from portal.redaction import RedactSecretsFilter, redact

SECRET = "sk-" + "ab12" * 16


def test_it_masks_upstream_secrets_bearer_values_and_jwts():
    line = (
        f"Authorization: Bearer {SECRET} token=ppk_abc123def456 key=ppw_abc123def456 "
        "jwt=eyJhbGciOi.eyJzdWIiOi.sig"
    )
    cleaned = redact(line)
    assert SECRET not in cleaned
    assert "ppk_abc123def456" not in cleaned
    assert "ppw_abc123def456" not in cleaned
    assert "eyJhbGciOi.eyJzdWIiOi" not in cleaned
    assert "Authorization: Bearer [redacted]" in cleaned


def test_the_filter_masks_secrets_passed_as_log_arguments(caplog):
    logger = logging.getLogger("tests.redaction")
    logger.addFilter(RedactSecretsFilter())
    try:
        with caplog.at_level(logging.INFO, logger="tests.redaction"):
            logger.info("calling upstream with %s", SECRET)
    finally:
        logger.filters.clear()
    assert SECRET not in caplog.text
    assert "[redacted]" in caplog.text


def test_the_filter_masks_secrets_in_tracebacks(caplog):
    logger = logging.getLogger("tests.redaction.tb")
    logger.addFilter(RedactSecretsFilter())
    try:
        with caplog.at_level(logging.ERROR, logger="tests.redaction.tb"):
            try:
                raise ValueError(f"bad secret {SECRET}")
            except ValueError:
                logger.exception("upstream call failed")
    finally:
        logger.filters.clear()
    assert "ValueError" in caplog.text
    assert SECRET not in caplog.text
