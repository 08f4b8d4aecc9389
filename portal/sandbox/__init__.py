"""The sandbox upstream: an offline, ChatBotKit-compatible HTTP server.

What it is
    A small aiohttp app that speaks the ChatBotKit API v1 as the project's upstream contract
    (UPSTREAM.md) describes it: partner users with their tokens, sessions and contexts, bots,
    conversations and messages, stateful and stateless completions streamed as JSONL at a
    realistic token pace, dispatch and channels, usage and per-child limits, run-as, cursor and
    JSONL lists, and the `{message, code}` error model, under both `/v1/...` and `/api/v1/...`.
    Replies are made up ("[sandbox] You said: ..."), deterministic and labelled as such; it is no
    model. It does not import Django, so it starts fast and runs on its own.

State
    Everything is in memory in one process (run one instance, never several workers). With
    `--state-file PATH` the state is loaded at start and written on shutdown (SIGINT/SIGTERM) so
    demo data survives restarts. Session JWTs stay valid across restarts for the same reason.

Running it
    python -m portal.sandbox --host 127.0.0.1 --port 8001 [--dev] [--state-file PATH]
                             [--token-delay-ms N] [--ping-interval-ms N] [--access-log]

    Environment defaults: SANDBOX_HOST, SANDBOX_PORT, SANDBOX_DEV (true/false),
    SANDBOX_STATE_FILE, SANDBOX_TOKEN_DELAY_MS, SANDBOX_PING_INTERVAL_MS.
    `GET /healthz` answers 200 {"status": "ok"} whenever the process is up.

Control surface (`--dev` only; 404 otherwise; no credentials, never expose it)
    POST /_sandbox/parent/create {"name"?, "secret"?, "id"?} -> {"id", "secret"}
         A given secret or id is reused, so a demo can re-link a parent after a restart.
    POST /_sandbox/user/create {"parentId", "id"?, "name"?, "email"?} -> {"id"}
         Imports a child with a known id.
    POST /_sandbox/reset                      drop all data, faults and config changes
    POST /_sandbox/fault/create {"route", "kind", "times"?, ...} -> {"id"}
         route: glob over the /v1/... path ("/v1/conversation/complete", "/v1/**").
         kind: "latency" {"ms"} | "status" {"status", "code"?, "message"?} (before any output)
               | "slow_first_token" {"ms"} | "reset_mid_stream" {"afterTokens"} (abort the TCP
               connection) | "stall" {"afterTokens"} (stop sending, keep the connection open).
         times: how many matching requests it hits (default: all).
    POST /_sandbox/fault/clear
    POST /_sandbox/config {"tokenDelayMs"?, "pingIntervalMs"?} -> the current config
    GET  /_sandbox/state                      record counts, channels, stream statistics

    `[sandbox:words=N]` in a user message pads the reply to about N words (for benchmarks).

Modules: app (routing and HTTP rules), auth, store, errors, validation, partner, bots,
conversations, completions, engine (the made-up model), streaming, lists, channels, pubsub,
usage, control.
"""
