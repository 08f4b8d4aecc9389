"""The chat widget: the seed-001 stream (``/v1/chat/stream``, alias ``/chat``) for browsers.

Read ``app.py`` first: one widget turn, top to bottom, as a lean ASGI handler routed by
``portal/asgi.py`` before Django (no middleware, no thread hop, no database on a warm call).
The other modules are its parts:

- ``protocol``: the request body, the NDJSON lines and the ``{"error"}`` answers of the seed;
- ``origins``: web origins of widget keys (normalising, and the preflight's index);
- ``turn``: one visitor message through the proxy's own pipeline (``tenants.proxy.internal``):
  the session's conversation, limits, metering, the upstream's events as seed lines;
- ``conversations``: which upstream conversation each (key, sessionId) continues;
- ``theme``: the widget's colours (``widget_theme``) and the snippet a site embeds.

Widget keys are issued and changed by ``tenants.services.widget_keys``.
"""
