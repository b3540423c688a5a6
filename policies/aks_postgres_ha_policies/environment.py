"""The policy configuration matches the stack's environment, whatever the stack is called.

Strictness lives in ``config.<environment>.json``: a stack whose ``environment`` setting is prod
must be analysed with the prod configuration. The Pulumi CLI hands the pack the stack's program
config as JSON in ``PULUMI_CONFIG`` and the project in ``PULUMI_PROJECT`` (the language host sets
them when it starts the pack; offline/policy_launch.py), so the pack reads the environment there.
The configuration files name the environment they are for (this policy's ``environment``); a run
without ``--policy-pack-config`` names none, which a prod stack refuses.
"""

from __future__ import annotations

import json
import os

from pulumi_policy import ReportViolation, StackValidationArgs

from .common import stack_policy

ENVIRONMENTS = ("dev", "prod")
STRICT_ENVIRONMENT = "prod"


def stack_environment() -> str | None:
    """The stack's ``environment`` setting, as the CLI passed it to the pack (None when not given)."""
    try:
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    except ValueError:
        return None
    value = config.get(f"{os.environ.get('PULUMI_PROJECT', '')}:environment") if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    configured = args.get_config().get("environment")
    environment = stack_environment()
    if environment == STRICT_ENVIRONMENT and configured != STRICT_ENVIRONMENT:
        shown = f"the one for '{configured}'" if configured else "none"
        report_violation(
            f"the stack's environment is '{environment}', but the policy configuration is {shown}, so prod's "
            f"mandatory rules do not apply; run with --policy-pack-config policies/config.{environment}.json.",
            None,
        )


ENVIRONMENT_POLICIES = [
    stack_policy(
        "policy-config-environment",
        "A stack whose environment is prod is analysed with the prod policy configuration.",
        _validate,
        settings={
            "environment": {
                "type": "string",
                "enum": list(ENVIRONMENTS),
                "description": "The environment this configuration is for (config.<environment>.json sets it).",
            }
        },
    ),
]
