"""Where moto answers differently from AWS in ways that matter to `terraform plan`.

Each patch makes moto return what AWS returns, in this test process only, so that
a second plan after apply can be judged: with these differences left in, the plan
shows changes that come from the fake, not from our configuration.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.sqs.models import Queue


def apply(patch: pytest.MonkeyPatch) -> None:
    _compact_redrive_policy(patch)
    _service_capacity_providers(patch)
    _scaling_policies_by_name(patch)


def _compact_redrive_policy(patch: pytest.MonkeyPatch) -> None:
    """AWS returns RedrivePolicy as compact JSON; moto adds spaces, which the provider sees as a change."""
    original = Queue.attributes.fget

    def attributes(self: Queue) -> dict[str, Any]:
        result = original(self)
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    patch.setattr(Queue, "attributes", property(attributes))


def _service_capacity_providers(patch: pytest.MonkeyPatch) -> None:
    """moto drops CreateService's capacityProviderStrategy and enableECSManagedTags (and reports
    launchType EC2), so every plan would replace the service."""
    original = EC2ContainerServiceResponse.create_service

    def create_service(self: EC2ContainerServiceResponse) -> Any:
        result = original(self)
        services, _ = self.ecs_backend.describe_services(self._get_param("cluster", "default"),
                                                         [self._get_param("serviceName")])
        service = services[0]
        strategy = self._get_param("capacityProviderStrategy")
        if strategy:
            service.capacity_provider_strategy = strategy
            service.launch_type = None
        service.enable_ecs_managed_tags = bool(self._get_param("enableECSManagedTags"))
        return result

    patch.setattr(EC2ContainerServiceResponse, "create_service", create_service)


def _scaling_policies_by_name(patch: pytest.MonkeyPatch) -> None:
    """moto ignores DescribeScalingPolicies' PolicyNames, so two policies on one service read as one."""
    original = ApplicationAutoScalingResponse.describe_scaling_policies

    def describe_scaling_policies(self: ApplicationAutoScalingResponse) -> str:
        response = json.loads(original(self))
        names = self._get_param("PolicyNames")
        if names:
            response["ScalingPolicies"] = [p for p in response["ScalingPolicies"] if p["PolicyName"] in names]
        return json.dumps(response)

    patch.setattr(ApplicationAutoScalingResponse, "describe_scaling_policies", describe_scaling_policies)
