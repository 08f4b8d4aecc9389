"""Scopes: ``resource:action``, with ``*`` for any resource, any action, or both.

The catalogue lists every resource and action a token can be granted, with an explanation for
the scope picker (pages) and the management API. It follows the upstream's route families
(``UPSTREAM.md``); the proxy's route table maps each route to one scope of this catalogue, and
routes it does not know are open only to ``*`` tokens.

``conversation:*`` grants every action on conversations, ``*:list`` listing anything, ``*``
everything (what a partner's own program usually holds).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ANY = "*"


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    label: str
    help: str
    actions: dict[str, str]  # action → what it allows


def _crud(noun: str, plural: str) -> dict[str, str]:
    return {
        "list": f"List {plural}.",
        "fetch": f"Read one {noun}.",
        "create": f"Create {plural}.",
        "update": f"Change {plural}.",
        "delete": f"Delete {plural}.",
    }


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "bot",
        "Bots",
        "The account's bots: their model, backstory, datasets and skillsets.",
        {**_crud("bot", "bots"), "clone": "Copy a bot."},
    ),
    Resource(
        "conversation",
        "Conversations",
        "Conversations with bots, and the completions that drive them.",
        {
            **_crud("conversation", "conversations"),
            "complete": "Send messages and get replies (send, receive, complete; streamed or not), "
            "with or without a stored conversation. Uses the account's message and token quota.",
            "dispatch": "Start a completion in the background; its events go to a channel.",
            "session": "Create a conversation session token for an end user's browser.",
        },
    ),
    Resource(
        "message",
        "Messages",
        "The messages inside conversations.",
        _crud("message", "messages"),
    ),
    Resource(
        "channel",
        "Channels",
        "Channels that carry background completions and function results.",
        {
            "subscribe": "Listen to a channel (the events of a dispatched completion).",
            "publish": "Publish to a channel (function results for a waiting completion).",
        },
    ),
    Resource(
        "usage",
        "Usage",
        "What the account consumed: tokens, conversations, messages, stored records.",
        {
            "fetch": "Read usage totals and daily series (account, bot or conversation).",
            "list": "List individual usage records.",
        },
    ),
    Resource(
        "dataset",
        "Datasets",
        "Knowledge bases that bots search, and their records and files.",
        _crud("dataset", "datasets"),
    ),
    Resource(
        "skillset",
        "Skillsets",
        "Tools (abilities) that bots may call.",
        _crud("skillset", "skillsets"),
    ),
    Resource(
        "contact",
        "Contacts",
        "The end users that conversations are held with.",
        _crud("contact", "contacts"),
    ),
    Resource(
        "file",
        "Files",
        "Uploaded files and attachments.",
        {**_crud("file", "files"), "upload": "Upload file contents."},
    ),
    Resource(
        "user",
        "Sub-accounts",
        "Partner API: the account's own tenants (child users), created and managed as "
        "sub-accounts.",
        _crud("sub-account", "sub-accounts"),
    ),
    Resource(
        "token",
        "Sub-account tokens",
        "Partner API: long-lived API tokens of the account's tenants.",
        {
            "list": "List a tenant's tokens (never their values).",
            "create": "Issue a token for a tenant.",
            "update": "Rename or describe a tenant's token.",
            "delete": "Revoke a tenant's token.",
        },
    ),
    Resource(
        "session",
        "Sub-account sessions",
        "Partner API: short-lived session tokens for a tenant, optionally limited to routes.",
        {"create": "Create a short-lived session token for a tenant."},
    ),
    Resource(
        "context",
        "Sub-account contexts",
        "Partner API: contexts attached to a tenant (bot, dataset or skillset ids and a payload).",
        _crud("context", "contexts"),
    ),
    Resource(
        "chat",
        "Widget chat",
        "The embeddable chat widget's stream (widget keys).",
        {"stream": "Chat with the widget's bot over the widget stream."},
    ),
)

CATALOGUE: dict[str, Resource] = {resource.name: resource for resource in RESOURCES}
ALL_ACTIONS: frozenset[str] = frozenset(
    action for resource in RESOURCES for action in resource.actions
)


class ScopeError(ValueError):
    """A scope that is not in the catalogue; the message says which part is wrong."""


def _split(scope: str) -> tuple[str, str]:
    resource, sep, action = scope.partition(":")
    if not sep or not resource or not action or ":" in action:
        raise ScopeError(
            f"{scope!r} is not a scope: write resource:action, for example conversation:list, "
            "conversation:*, *:list or *."
        )
    return resource, action


def validate_scope(scope: str) -> str:
    """The scope, normalised (``*:*`` becomes ``*``), or ``ScopeError`` naming what is unknown."""
    scope = scope.strip()
    if scope == ANY:
        return ANY
    resource_name, action = _split(scope)
    if resource_name == ANY:
        if action == ANY:
            return ANY
        if action not in ALL_ACTIONS:
            raise ScopeError(
                f"{scope!r}: no resource has an action {action!r} "
                f"(actions: {', '.join(sorted(ALL_ACTIONS))})."
            )
        return scope
    resource = CATALOGUE.get(resource_name)
    if resource is None:
        raise ScopeError(
            f"{scope!r}: there is no resource {resource_name!r} "
            f"(resources: {', '.join(CATALOGUE)})."
        )
    if action != ANY and action not in resource.actions:
        raise ScopeError(
            f"{scope!r}: {resource_name} has no action {action!r} "
            f"({resource_name} actions: {', '.join(resource.actions)})."
        )
    return scope


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """Every scope validated, duplicates dropped, order kept."""
    cleaned: list[str] = []
    for scope in scopes:
        value = validate_scope(scope)
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def scope_allows(granted: Iterable[str], needed: str) -> bool:
    """True if any granted scope covers ``needed`` (an exact ``resource:action``)."""
    resource, _, action = needed.partition(":")
    for scope in granted:
        if scope in (ANY, needed):
            return True
        granted_resource, _, granted_action = scope.partition(":")
        if granted_resource in (resource, ANY) and granted_action in (action, ANY):
            return True
    return False


def explain(scope: str) -> str:
    """A sentence for a (valid) scope, as the pages show it beside a token."""
    if scope == ANY:
        return "Everything the account can do, including routes no scope names."
    resource_name, action = _split(scope)
    if resource_name == ANY:
        return f"{action.capitalize()} on every resource."
    resource = CATALOGUE[resource_name]
    if action == ANY:
        return f"Everything on {resource.label.lower()}: {', '.join(resource.actions)}."
    return resource.actions[action]


def catalogue() -> list[dict[str, object]]:
    """The catalogue as plain data for the scope picker and the management API."""
    return [
        {
            "resource": resource.name,
            "label": resource.label,
            "help": resource.help,
            "actions": [
                {"scope": f"{resource.name}:{action}", "action": action, "help": text}
                for action, text in resource.actions.items()
            ],
        }
        for resource in RESOURCES
    ]
