"""The pages (htmx). Every view resolves what it shows through ``tenants.access`` first."""

from __future__ import annotations

from django.urls import path, re_path

from tenants.views import (
    accounts,
    audit,
    branding,
    console,
    console_jobs,
    invitations,
    limits,
    members,
    onboarding,
    status,
    support,
    tokens,
    usage,
    webhooks,
    widget_keys,
)

app_name = "tenants"

urlpatterns = [
    path("tenants/", accounts.tenant_list, name="tenant-list"),
    path("tenants/new/", onboarding.onboard, name="onboard"),
    path("accounts/<str:public_id>/", accounts.account_detail, name="account-detail"),
    path("accounts/<str:public_id>/edit/", accounts.account_edit, name="account-edit"),
    path("accounts/<str:public_id>/suspend/", status.account_suspend, name="account-suspend"),
    path(
        "accounts/<str:public_id>/reactivate/",
        status.account_reactivate,
        name="account-reactivate",
    ),
    path("accounts/<str:public_id>/close/", status.account_close, name="account-close"),
    path(
        "accounts/<str:public_id>/onboarded/token/",
        onboarding.onboard_token,
        name="onboard-token",
    ),
    path("accounts/<str:public_id>/onboarded/", onboarding.onboard_invite, name="onboard-invite"),
    path("accounts/<str:public_id>/limits/", limits.account_limits, name="account-limits"),
    path("plans/", limits.plan_list, name="plan-list"),
    path("plans/<int:pk>/edit/", limits.plan_edit, name="plan-edit"),
    path("accounts/<str:public_id>/branding/", branding.account_branding, name="account-branding"),
    path(
        "accounts/<str:public_id>/branding/reset/",
        branding.account_branding_reset,
        name="account-branding-reset",
    ),
    # The path tenants.branding.lookup.LOGO_PATH builds (logo URLs are made without reverse()).
    re_path(
        r"^branding/logo/(?P<sha256>[0-9a-f]{64})\.(?P<extension>png|jpg|webp)$",
        branding.brand_logo,
        name="brand-logo",
    ),
    path("branding/host-check", branding.host_check, name="brand-host-check"),
    path("accounts/<str:public_id>/members/", members.members, name="members"),
    path("accounts/<str:public_id>/usage/", usage.account_usage, name="account-usage"),
    path("usage/", usage.usage_overview, name="usage-overview"),
    path("usage/export.csv", usage.usage_export, name="usage-export"),
    path("accounts/<str:public_id>/tokens/", tokens.token_list, name="token-list"),
    path("accounts/<str:public_id>/tokens/new/", tokens.token_create, name="token-create"),
    path("accounts/<str:public_id>/webhooks/", webhooks.webhook_list, name="webhook-list"),
    path("accounts/<str:public_id>/webhooks/new/", webhooks.webhook_create, name="webhook-create"),
    path("webhooks/<int:pk>/delete/", webhooks.webhook_delete, name="webhook-delete"),
    path("webhooks/<int:pk>/test/", webhooks.webhook_test, name="webhook-test"),
    path("accounts/<str:public_id>/widget/", widget_keys.widget_key_list, name="widget-key-list"),
    path(
        "accounts/<str:public_id>/widget/new/",
        widget_keys.widget_key_create,
        name="widget-key-create",
    ),
    path("widget-keys/<str:token_id>/", widget_keys.widget_key_detail, name="widget-key-detail"),
    path(
        "widget-keys/<str:token_id>/preview/",
        widget_keys.widget_key_preview,
        name="widget-key-preview",
    ),
    # The embeddable script, at an address sites keep (tenants.widget.theme.script_url).
    path("widget/chat.js", widget_keys.widget_script, name="widget-script"),
    path("tokens/<str:token_id>/rotate/", tokens.token_rotate, name="token-rotate"),
    path("tokens/<str:token_id>/revoke/", tokens.token_revoke, name="token-revoke"),
    path("tokens/<str:token_id>/rate/", tokens.token_rate, name="token-rate"),
    path("members/<int:pk>/role/", members.member_role, name="member-role"),
    path("members/<int:pk>/remove/", members.member_remove, name="member-remove"),
    path(
        "invitations/<int:pk>/revoke/",
        members.invitation_revoke,
        name="invitation-revoke",
    ),
    path("audit/", audit.audit_list, name="audit-list"),
    path("accounts/<str:public_id>/support/", support.account_support, name="account-support"),
    path(
        "accounts/<str:public_id>/support/start/",
        support.support_start,
        name="support-start",
    ),
    path("support/", support.support_list, name="support-list"),
    path("support/stop/", support.support_stop, name="support-stop"),
    path("support/<str:correlation_id>/", support.support_session, name="support-session"),
    # The streaming console and background conversations (tenants/console/).
    path("console/", console.console, name="console"),
    path("console/meter/", console.meter, name="console-meter"),
    path("console/turns/", console.turn_start, name="console-turn-start"),
    path("console/turns/<str:turn_id>/stream/", console.turn_stream, name="console-turn-stream"),
    path("console/turns/<str:turn_id>/stop/", console.turn_stop, name="console-turn-stop"),
    path("console/jobs/", console_jobs.job_list, name="console-job-list"),
    path("console/jobs/new/", console_jobs.job_start, name="console-job-start"),
    path("console/jobs/<str:job_id>/", console_jobs.job_detail, name="console-job-detail"),
    path("console/jobs/<str:job_id>/stream/", console_jobs.job_stream, name="console-job-stream"),
    path("console/jobs/<str:job_id>/cancel/", console_jobs.job_cancel, name="console-job-cancel"),
    # The path tenants.services.people.INVITATION_PATH puts in the e-mail.
    path("invitations/<str:token>/", invitations.invitation_accept, name="invitation-accept"),
]
