"""Authentication (401) and authorization (403): our tokens, Keycloak's, HS256 and RS256."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import config
from tests.conftest import new_task, token

SECRET = "test-secret-0123456789abcdef0123456789"


def hs(claims, secret=SECRET):
    return jwt.encode(claims, secret, algorithm="HS256")


def exp(seconds=600):
    return int(time.time()) + seconds


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer not.a.jwt", "Token " + "x"],
)
def test_missing_or_malformed_credentials_are_401(api, header):
    headers = {"Authorization": header} if header is not None else {}
    response = api.get("/tasks", token=None, headers=headers)
    assert response.status_code == 401
    assert response.data["code"] == 401 and response.data["error"]


def test_expired_token_is_401(api):
    response = api.get("/tasks", token=hs({"roles": ["admin"], "exp": exp(-60)}))
    assert response.status_code == 401
    assert "expired" in response.data["error"]


def test_token_without_exp_is_401(api):
    assert api.get("/tasks", token=hs({"roles": ["admin"]})).status_code == 401


def test_badly_signed_token_is_401(api):
    assert api.get("/tasks", token=hs({"roles": ["admin"], "exp": exp()}, "other-secret-" * 3)).status_code == 401


def test_token_with_no_known_role_is_403(api):
    response = api.get("/tasks", token=hs({"roles": ["guest"], "exp": exp()}))
    assert response.status_code == 403
    assert response.data == {"code": 403, "error": response.data["error"]}


@pytest.mark.parametrize("role", ["admin", "system"])
def test_admin_and_system_reach_global_routes(api, role):
    assert api.get("/tasks", token=token([role])).status_code == 200


def test_user_cannot_reach_global_routes(api):
    assert api.get("/tasks", token=token(["user"], {"d1": "write"})).status_code == 403
    assert api.post("/tasks", new_task(), token=token(["user"], {"d1": "write"})).status_code == 403


def test_user_reads_a_granted_dataset(api, create):
    create()
    for grant in ("read", "write"):
        response = api.get("/datasets/d1/tasks", token=token(["user"], {"d1": grant}))
        assert response.status_code == 200
        assert len(response.data) == 1


def test_user_without_grant_on_the_dataset_is_403(api, create):
    create()
    assert api.get("/datasets/d1/tasks", token=token(["user"], {"d2": "write"})).status_code == 403
    assert api.get("/datasets/d1/tasks", token=token(["user"])).status_code == 403


def test_user_with_read_grant_cannot_write(api, create):
    task_id = create()
    response = api.put(f"/datasets/d1/tasks/{task_id}/status", {"status": "idle"},
                       token=token(["user"], {"d1": "read"}))
    assert response.status_code == 403
    ok = api.put(f"/datasets/d1/tasks/{task_id}/status", {"status": "idle"}, token=token(["user"], {"d1": "write"}))
    assert ok.status_code == 200


def test_auth_is_checked_before_validation(api):
    assert api.post("/tasks", raw=b"{not json", token=None).status_code == 401
    assert api.post("/tasks", raw=b"{not json", token=token(["user"])).status_code == 403
    assert api.post("/tasks", raw=b"{not json").status_code == 400


def test_keycloak_groups_and_client_roles_map_to_our_roles(api, create):
    create()
    admin = hs({"groups": ["/tokens/IceProdAdmins"], "exp": exp()})
    system = hs({"resource_access": {"iceprod": {"roles": ["iceprod-system"]}}, "exp": exp()})
    user = hs({"groups": ["/institutions/IceCube/UW-Madison"], "exp": exp()})
    outsider = hs({"groups": ["/institutions/Other"], "exp": exp()})
    assert api.get("/tasks", token=admin).status_code == 200
    assert api.get("/tasks", token=system).status_code == 200
    assert api.get("/tasks", token=user).status_code == 403
    assert api.get("/datasets/d1/tasks", token=user).status_code == 200  # read on every dataset
    assert api.post("/datasets/d1/task_actions/bulk_status/idle", {"tasks": ["x"]}, token=user).status_code == 403
    assert api.get("/datasets/d1/tasks", token=outsider).status_code == 403


@pytest.fixture
def rsa_key(monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    monkeypatch.setattr(config, "JWT_PUBLIC_KEY", public)
    return key


def test_rs256_tokens_verify_with_the_public_key(api, rsa_key):
    good = jwt.encode({"roles": ["system"], "exp": exp()}, rsa_key, algorithm="RS256")
    assert api.get("/tasks", token=good).status_code == 200
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = jwt.encode({"roles": ["system"], "exp": exp()}, other, algorithm="RS256")
    assert api.get("/tasks", token=bad).status_code == 401
    # HS256 with the secret still works: any configured key may verify.
    assert api.get("/tasks", token=token(["system"])).status_code == 200


def test_audience_and_issuer_are_checked_when_configured(api, monkeypatch):
    monkeypatch.setattr(config, "JWT_AUDIENCE", "iceprod")
    monkeypatch.setattr(config, "JWT_ISSUER", "https://keycloak.example/realms/IceCube")
    claims = {"roles": ["admin"], "exp": exp(), "aud": "iceprod", "iss": "https://keycloak.example/realms/IceCube"}
    assert api.get("/tasks", token=hs(claims)).status_code == 200
    assert api.get("/tasks", token=hs({**claims, "aud": "other"})).status_code == 401
    assert api.get("/tasks", token=hs({**claims, "iss": "https://evil"})).status_code == 401
    assert api.get("/tasks", token=hs({"roles": ["admin"], "exp": exp()})).status_code == 401


def test_secret_from_secrets_manager(monkeypatch):
    import boto3
    from moto import mock_aws

    from chalicelib import auth

    monkeypatch.setattr(config, "JWT_SECRET", None)
    auth._secret_from_arn.cache_clear()
    try:
        with mock_aws():
            arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name="jwt", SecretString="from-secrets-manager-0123456789abcdef")["ARN"]
            monkeypatch.setattr(config, "JWT_SECRET_ARN", arn)
            good = hs({"roles": ["admin"], "exp": exp()}, "from-secrets-manager-0123456789abcdef")
            assert auth.authenticate(f"Bearer {good}").roles == {"admin"}
            with pytest.raises(auth.Unauthenticated):
                auth.authenticate("Bearer " + hs({"roles": ["admin"], "exp": exp()}))
    finally:
        auth._secret_from_arn.cache_clear()


def test_a_lambda_without_any_key_refuses_to_start(monkeypatch):
    monkeypatch.setattr(config, "IN_LAMBDA", True)
    monkeypatch.setattr(config, "JWT_SECRET", None)
    monkeypatch.setattr(config, "JWT_SECRET_ARN", None)
    monkeypatch.setattr(config, "JWT_PUBLIC_KEY", None)
    with pytest.raises(RuntimeError):
        config.check_keys()
    monkeypatch.setattr(config, "JWT_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x")
    config.check_keys()


def test_a_cached_token_still_expires(api, monkeypatch):
    token_ = hs({"roles": ["admin"], "exp": exp(60)})
    assert api.get("/tasks", token=token_).status_code == 200  # verified, then cached
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 120)
    response = api.get("/tasks", token=token_)
    assert response.status_code == 401 and "expired" in response.data["error"]


def test_a_cached_token_is_rechecked_when_the_key_changes(api, monkeypatch):
    token_ = hs({"roles": ["admin"], "exp": exp()})
    assert api.get("/tasks", token=token_).status_code == 200
    monkeypatch.setattr(config, "JWT_SECRET", "a-rotated-secret-0123456789abcdef0123")
    assert api.get("/tasks", token=token_).status_code == 401
