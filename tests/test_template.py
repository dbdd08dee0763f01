"""The deployable template: what `make package` builds from template.yaml (cfn-lint runs in make)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory) -> Path:
    """`make package`'s output (build/), or the same command run here when the tests run alone."""
    if (ROOT / "build" / "sam.yaml").exists() and (ROOT / "build" / "deployment.zip").exists():
        return ROOT / "build"
    out = tmp_path_factory.mktemp("package")
    chalice = Path(sys.executable).parent / "chalice"
    subprocess.run([str(chalice), "package", "--stage", "prod", "--merge-template", "template.yaml",
                    "--template-format", "yaml", str(out)], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    return out


@pytest.fixture(scope="module")
def template(package_dir):
    from chalice.package import YAMLTemplateSerializer

    return YAMLTemplateSerializer().load_template((package_dir / "sam.yaml").read_text())


def test_deployment_package_holds_no_local_runtime_code(package_dir):
    """Chalice ships app.py and chalicelib/: the local server, embedded engine and tools stay out."""
    import zipfile

    names = zipfile.ZipFile(package_dir / "deployment.zip").namelist()
    assert "app.py" in names and "chalicelib/services/claims.py" in names
    ours = [n for n in names if n == "app.py" or n.startswith("chalicelib/")]
    local = [n for n in names if n.startswith(("devserver/", "tests/", "bench/", "chalicelib/local/", "iceprod_ops/",
                                                "bson/", "pymongo/", "rich/"))]
    assert not local, local
    local_imports = [f"{word} {module}" for word in ("import", "from")
                     for module in ("moto", "devserver", "pytest", "iceprod_ops")]
    for name in ours:  # nothing deployed imports moto, the dev server or test tools
        if name.endswith(".py"):
            text = zipfile.ZipFile(package_dir / "deployment.zip").read(name).decode()
            assert not any(line in text for line in local_imports), name


FUNCTIONS = ("APIHandler", "CountTasks", "QueueTasks", "RunJobs", "ReconcileCounters")


def test_tables_have_keys_indexes_stream_and_protection(template):
    res = template["Resources"]
    tasks = res["TasksTable"]
    assert tasks["DeletionPolicy"] == "Retain"
    props = tasks["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert {i["IndexName"] for i in props["GlobalSecondaryIndexes"]} == {"status-priority", "dataset-name"}
    for name in ("TasksTable", "FilesTable", "CountersTable"):
        assert res[name]["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
        assert res[name]["DeletionPolicy"] == "Retain"
    assert res["CountersTable"]["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_template_matches_the_models():
    """The template's key schema is the PynamoDB models' (the tests create tables from those)."""
    from chalice.package import YAMLTemplateSerializer

    from chalicelib.models import Task

    tpl = YAMLTemplateSerializer().load_template((ROOT / "template.yaml").read_text())
    schema = Task._get_schema()
    declared = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    in_template = {d["AttributeName"]: d["AttributeType"]
                   for d in tpl["Resources"]["TasksTable"]["Properties"]["AttributeDefinitions"]}
    assert declared == in_template
    for index in schema["global_secondary_indexes"]:
        match = [i for i in tpl["Resources"]["TasksTable"]["Properties"]["GlobalSecondaryIndexes"]
                 if i["IndexName"] == index["index_name"]]
        assert match and sorted(map(str, match[0]["KeySchema"])) == sorted(map(str, index["key_schema"]))


def test_every_function_gets_the_tables_and_its_own_role(template):
    res = template["Resources"]
    roles = set()
    for name in FUNCTIONS:
        props = res[name]["Properties"]
        env = props["Environment"]["Variables"]
        assert env["TASKS_TABLE"] == {"Ref": "TasksTable"}
        assert env["COUNTERS_TABLE"] == {"Ref": "CountersTable"}
        assert env["TASKS_STREAM_ARN"] == {"Fn::GetAtt": ["TasksTable", "StreamArn"]}
        assert env["TASKS_JWT_SECRET_ARN"] == {"Ref": "JwtSecret"}
        roles.add(props["Role"]["Fn::GetAtt"][0])
    assert roles == {"ApiRole", "CounterRole", "QueueRole", "JobsRole", "ReconcileRole"}
    assert "DefaultRole" not in res


def test_stream_event_source_points_at_the_table(template):
    source = template["Resources"]["CountTasks"]["Properties"]["Events"]["CountTasksDynamodbEventSource"]
    props = source["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["TasksTable", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BisectBatchOnFunctionError"] is True
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["CountTasksFailures", "Arn"]}


def test_roles_name_only_these_tables(template):
    res = template["Resources"]
    for role in ("ApiRole", "CounterRole", "QueueRole", "JobsRole", "ReconcileRole"):
        for policy in res[role]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if statement["Resource"] == "*":
                    assert actions == ["dynamodb:ListStreams"], (role, statement)
                assert not any(a.endswith(":*") for a in actions)


def test_unknown_routes_answer_json_404(template):
    response = template["Resources"]["MissingRouteResponse"]["Properties"]
    assert response["StatusCode"] == "404"
    assert response["ResponseTemplates"]["application/json"] == '{"code": 404, "error": "no such route"}'


def test_every_media_type_is_binary_so_gzip_answers_are_decoded(template):
    """API Gateway decodes an ``isBase64Encoded`` answer only for a binary Accept type."""
    definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert definition["x-amazon-apigateway-binary-media-types"] == ["*/*"]


def test_alarms_on_iterator_age_and_5xx(template):
    res = template["Resources"]
    assert res["StreamIteratorAgeAlarm"]["Properties"]["MetricName"] == "IteratorAge"
    assert res["Api5xxAlarm"]["Properties"]["MetricName"] == "5XXError"
