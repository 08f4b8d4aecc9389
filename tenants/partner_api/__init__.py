"""The partner API, served by the portal in the upstream's own shapes (UPSTREAM.md §3).

An integration written for ChatBotKit's partner API works unchanged with the portal's base URL
and a portal token: ``/v1/partner/user/...`` and ``/v1/user/...`` (and the same under
``/api/v1``) create, list, fetch, update and delete the caller's tenants, issue their tokens and
sessions, and manage their contexts. Tenants made here are real portal accounts (an upstream
child first, then the local account, through ``tenants.services``); tokens are portal tokens,
never upstream ``sk-`` secrets.

The caller is the token's account, or the account named by a run-as header when it is inside
the token's subtree. ``{userId}`` resolves only among the caller's descendants: a tenant of
someone else answers exactly as a missing one (404), so ids cannot be probed.
"""
