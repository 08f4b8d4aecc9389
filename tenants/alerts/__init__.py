"""Usage alerts: thresholds of the period quotas, e-mailed and posted to signed webhooks.

- ``models``: fired thresholds (one row per account, period, quota and threshold), webhook
  endpoints (secret encrypted at rest) and their deliveries with one row per attempt;
- ``thresholds``: the check beat runs every minute (``tasks.check_thresholds``);
- ``signing``: the ``X-Portal-Signature`` header, and how a receiver verifies it;
- ``webhooks``: endpoints (add, delete, send a test) and delivering one event.
"""
