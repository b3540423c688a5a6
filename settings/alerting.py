"""Where alerts go: the people (e-mail) and systems (webhook) that receive them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from settings.rules import SettingsModel, matching

EmailAddress = Annotated[str, matching(r"[^@\s]+@[^@\s]+\.[^@\s]+", "must be an e-mail address (name@domain)")]
HttpsUrl = Annotated[str, matching(r"https://[^\s/]+(/\S*)?", "must be an https:// URL")]


class AlertingSettings(SettingsModel):
    emails: list[EmailAddress] = Field(default=[], max_length=100)
    """E-mail receivers of the Azure Monitor action group that managed-Prometheus alerts go to."""
    webhook_url: HttpsUrl | None = None
    """Webhook for every alert (action group: common alert schema, Alertmanager: its JSON). Set it with --secret."""

    def problems(self, *, prod: bool, azure_monitoring: bool, self_managed_monitoring: bool) -> list[str]:
        """A production stack must route its alerts to someone, whichever Prometheus evaluates them."""
        if not prod:
            return []
        if azure_monitoring:
            # Managed Prometheus evaluates the alert rules and the action group delivers them.
            if not self.emails and self.webhook_url is None:
                return [
                    "alerting: no receiver, but prod routes alerts to people: list alerting.emails and/or set "
                    "alerting.webhookUrl (a secret) for the Azure Monitor action group"
                ]
        elif self_managed_monitoring:
            # Alertmanager cannot send e-mail without an SMTP relay: it posts to the webhook.
            if self.webhook_url is None:
                return [
                    "alerting.webhookUrl: not set, but prod routes alerts to people and the in-cluster Alertmanager "
                    "(observability.azureMonitoring is off) delivers only to a webhook"
                ]
        else:
            return [
                "observability.azureMonitoring: false and operators.selfManagedMonitoring: false, but prod needs one "
                "of them to evaluate and route alerts"
            ]
        return []
