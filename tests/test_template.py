"""The deployable template: what `make package` builds from template.yaml (cfn-lint runs in make)."""

import json
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
    page = {f"chalicelib/statuspage/{f}" for f in ("index.html", "style.css", "logic.js", "page.js")}
    assert page <= set(names), page - set(names)  # the status page's files ship with the routes
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


FUNCTIONS = ("APIHandler", "CountTasks", "QueueTasks", "RunJobs", "ReconcileCounters", "ReplayStreamFailures",
             "Janitor")
ROLES = ("ApiRole", "CounterRole", "QueueRole", "JobsRole", "ReconcileRole", "ReplayRole", "JanitorRole")


def test_tables_have_keys_indexes_stream_and_protection(template):
    res = template["Resources"]
    tasks = res["TasksTable"]
    assert tasks["DeletionPolicy"] == "Retain"
    props = tasks["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert {i["IndexName"] for i in props["GlobalSecondaryIndexes"]} == {"status-priority", "dataset-name", "leases"}
    for name in ("TasksTable", "FilesTable", "CountersTable", "TaskStatsTable"):
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


def test_the_task_stats_table_matches_its_model():
    from chalice.package import YAMLTemplateSerializer

    from chalicelib.models import TaskStat

    tpl = YAMLTemplateSerializer().load_template((ROOT / "template.yaml").read_text())
    props = tpl["Resources"]["TaskStatsTable"]["Properties"]
    schema = TaskStat._get_schema()
    assert props["AttributeDefinitions"] == schema["attribute_definitions"]
    assert props["KeySchema"] == schema["key_schema"]
    assert props["BillingMode"] == "PAY_PER_REQUEST" and props["SSESpecification"] == {"SSEEnabled": True}


def test_every_function_gets_the_tables_and_its_own_role(template):
    res = template["Resources"]
    roles = set()
    for name in FUNCTIONS:
        props = res[name]["Properties"]
        env = props["Environment"]["Variables"]
        assert env["TASKS_TABLE"] == {"Ref": "TasksTable"}
        assert env["COUNTERS_TABLE"] == {"Ref": "CountersTable"}
        assert env["TASK_STATS_TABLE"] == {"Ref": "TaskStatsTable"}
        assert env["TASKS_STREAM_ARN"] == {"Fn::GetAtt": ["TasksTable", "StreamArn"]}
        assert env["TASKS_JWT_SECRET_ARN"] == {"Ref": "JwtSecret"}
        roles.add(props["Role"]["Fn::GetAtt"][0])
    assert roles == set(ROLES)
    assert "DefaultRole" not in res


def test_stream_event_source_points_at_the_table(template):
    source = template["Resources"]["CountTasks"]["Properties"]["Events"]["CountTasksDynamodbEventSource"]
    props = source["Properties"]
    assert props["Stream"] == {"Fn::GetAtt": ["TasksTable", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BisectBatchOnFunctionError"] is True
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["CountTasksFailures", "Arn"]}


def test_a_failed_batch_is_reported_while_the_stream_still_holds_it(template):
    """The failure queue receives a batch's sequence range only; the replay function reads it
    back from the stream (24 h), so batches are given up well before then."""
    res = template["Resources"]
    source = res["CountTasks"]["Properties"]["Events"]["CountTasksDynamodbEventSource"]["Properties"]
    assert 0 < source["MaximumRecordAgeInSeconds"] <= 6 * 3600
    replay = res["ReplayStreamFailures"]["Properties"]
    assert replay["Handler"] == "chalicelib.events.handlers.replay_stream_failures"
    assert replay["Environment"]["Variables"]["STREAM_FAILURE_QUEUE_URL"] == {"Ref": "CountTasksFailures"}
    statements = [s for p in res["ReplayRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert any(s["Action"] == ["sqs:ReceiveMessage", "sqs:DeleteMessage"] for s in statements)


def test_roles_name_only_these_tables(template):
    res = template["Resources"]
    for role in ROLES:
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


def test_every_lambda_entry_module_logs_json_on_its_own(template):
    """Lambda imports each function's handler module alone (not ``app.py`` first, as ``make run``
    does): each must set up the JSON logs, or its INFO lines are dropped and warnings are text."""
    handlers = {template["Resources"][name]["Properties"]["Handler"] for name in FUNCTIONS}
    modules = sorted({handler.rsplit(".", 1)[0] for handler in handlers})
    assert "chalicelib.events.handlers" in modules and "app" in modules
    script = ("import importlib, logging, sys; importlib.import_module(sys.argv[1]); "
              "logging.getLogger('iceprod_tasks.events').info('an info line'); "
              "logging.getLogger('iceprod_tasks.counters').warning('a warning')")
    env = {**os.environ, "LOG_LEVEL": "INFO", "AWS_LAMBDA_FUNCTION_NAME": "x"}
    for module in modules:
        done = subprocess.run([sys.executable, "-c", script, module], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True)
        lines = [json.loads(line) for line in done.stderr.splitlines()]
        assert [(line["level"], line["message"]) for line in lines] == [
            ("INFO", "an info line"), ("WARNING", "a warning")], (module, done.stderr)


def render(body: str, message: str) -> str:
    """A template or log format as API Gateway renders it: ``$context.error.messageString`` is
    the message already quoted as a JSON string, other variables are plain text in quotes."""
    import re

    rendered = body.replace("$context.error.messageString", json.dumps(message))
    return re.sub(r"\$context\.[\w.]+", "sample-value", rendered)


SAMPLE = 'Internal server error: "quoted" \\ and a newline\n'


def test_every_gateway_response_renders_json(template):
    responses = {name: r["Properties"] for name, r in template["Resources"].items()
                 if r["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert "Default5xxResponse" in responses
    for name, props in responses.items():
        answer = json.loads(render(props["ResponseTemplates"]["application/json"], SAMPLE))
        assert set(answer) == {"code", "error"} and isinstance(answer["code"], int), name
        if "StatusCode" in props:
            assert answer["code"] == int(props["StatusCode"]), name
    default = responses["Default5xxResponse"]["ResponseTemplates"]["application/json"]
    assert json.loads(render(default, SAMPLE))["error"] == SAMPLE


def _parameter_default(template, value):
    return int(template["Parameters"][value["Ref"]]["Default"]) if isinstance(value, dict) else int(value)


def test_the_stage_is_throttled(template):
    (setting,) = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    assert setting["ResourcePath"] == "/*" and setting["HttpMethod"] == "*"
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
    assert 0 < _parameter_default(template, setting["ThrottlingRateLimit"]) <= 10000  # the account's default


def test_concurrency_keeps_an_api_flood_from_starving_the_stream_and_jobs(template):
    """Every function has its own reservation: the API's caps it, the others' guarantee them
    concurrency. The defaults fit a fresh account: 1,000, of which 100 must stay unreserved."""
    res = template["Resources"]
    reserved = {name: res[name]["Properties"]["ReservedConcurrentExecutions"] for name in FUNCTIONS}
    assert reserved["APIHandler"] == {"Ref": "ApiReservedConcurrency"}
    assert reserved["CountTasks"] == {"Ref": "StreamReservedConcurrency"}
    assert reserved["RunJobs"] == {"Ref": "JobsReservedConcurrency"}
    defaults = {name: _parameter_default(template, value) for name, value in reserved.items()}
    assert all(value >= 1 for value in defaults.values())
    assert sum(defaults.values()) <= 1000 - 100


def test_every_log_group_has_a_retention_and_every_function_logs_to_one(template):
    res = template["Resources"]
    groups = {name for name, r in res.items() if r["Type"] == "AWS::Logs::LogGroup"}
    for name in groups:
        assert res[name]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    used = {res[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for name in FUNCTIONS}
    access = res["RestAPI"]["Properties"]["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert used | {access} == groups and len(used) == len(FUNCTIONS)


def test_access_logs_are_json_lines(template):
    setting = template["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]
    line = json.loads(render(setting["Format"], SAMPLE))
    assert {"requestId", "ip", "method", "resource", "status", "error"} <= set(line)
    assert line["error"] == SAMPLE


def test_the_api_gateway_logging_role_is_created_only_when_asked(template):
    res = template["Resources"]
    assert template["Parameters"]["CreateApiGatewayAccountRole"]["Default"] == "yes"  # a fresh account has none
    for name in ("ApiGatewayCloudWatchRole", "ApiGatewayAccount"):
        assert res[name]["Condition"] == "CreatesApiGatewayAccountRole"
    assert res["RestAPI"]["DependsOn"] == "ApiGatewayAccountReady"
    assert res["ApiGatewayAccountReady"]["Metadata"]["Account"]["Fn::If"][1] == {"Ref": "ApiGatewayAccount"}
