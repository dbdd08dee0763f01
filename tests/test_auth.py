"""Authentication (401) and authorization (403): our tokens, Keycloak's, HS256 and RS256."""

import time
from pathlib import Path

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


KC_ISSUER = "https://keycloak.example/realms/IceCube"


@pytest.fixture
def rsa_key(monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    monkeypatch.setattr(config, "JWT_PUBLIC_KEY", public)
    monkeypatch.setattr(config, "KEYCLOAK_AUDIENCE", "iceprod")
    monkeypatch.setattr(config, "KEYCLOAK_ISSUER", KC_ISSUER)
    return key


def kc(claims, key):
    """A Keycloak-like RS256 token for the tasks API's audience."""
    return jwt.encode({"aud": "iceprod", "iss": KC_ISSUER, "exp": exp(), **claims}, key, algorithm="RS256")


SYSTEM = {"resource_access": {"iceprod": {"roles": ["iceprod-system"]}}}


def test_rs256_tokens_verify_with_the_public_key(api, rsa_key):
    assert api.get("/tasks", token=kc(SYSTEM, rsa_key)).status_code == 200
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert api.get("/tasks", token=kc(SYSTEM, other)).status_code == 401
    # HS256 with the secret still works: any configured key may verify.
    assert api.get("/tasks", token=token(["system"])).status_code == 200


def test_rs256_tokens_need_our_audience_and_issuer(api, rsa_key):
    """The realm's key signs tokens for all its clients: only ours, from the realm, verify."""
    assert api.get("/tasks", token=kc({**SYSTEM, "aud": "another-client"}, rsa_key)).status_code == 401
    assert api.get("/tasks", token=kc({**SYSTEM, "iss": "https://keycloak.example/realms/Other"},
                                      rsa_key)).status_code == 401
    no_aud = jwt.encode({**SYSTEM, "iss": KC_ISSUER, "exp": exp()}, rsa_key, algorithm="RS256")
    assert api.get("/tasks", token=no_aud).status_code == 401
    no_iss = jwt.encode({**SYSTEM, "aud": "iceprod", "exp": exp()}, rsa_key, algorithm="RS256")
    assert api.get("/tasks", token=no_iss).status_code == 401


def test_any_audience_is_accepted_only_when_configured(api, rsa_key, monkeypatch):
    other_client = kc({**SYSTEM, "aud": "account"}, rsa_key)
    assert api.get("/tasks", token=other_client).status_code == 401
    monkeypatch.setattr(config, "KEYCLOAK_ANY_AUDIENCE", True)
    assert api.get("/tasks", token=other_client).status_code == 200


def test_our_roles_and_datasets_claims_do_not_count_in_rs256_tokens(api, create, rsa_key):
    create()
    assert api.get("/tasks", token=kc({"roles": ["admin"]}, rsa_key)).status_code == 403
    grant = kc({"roles": ["user"], "datasets": {"d1": "write"}}, rsa_key)
    assert api.get("/datasets/d1/tasks", token=grant).status_code == 403
    # the same claims signed with the shared secret do count
    assert api.get("/datasets/d1/tasks", token=token(["user"], {"d1": "write"})).status_code == 200


@pytest.mark.parametrize(("missing", "message"), [("KEYCLOAK_ISSUER", "ISSUER"), ("KEYCLOAK_AUDIENCE", "AUDIENCE")])
def test_a_public_key_without_issuer_or_audience_refuses_to_start(monkeypatch, missing, message):
    monkeypatch.setattr(config, "JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----...")
    monkeypatch.setattr(config, "KEYCLOAK_ISSUER", KC_ISSUER)
    monkeypatch.setattr(config, "KEYCLOAK_AUDIENCE", "iceprod")
    config.check_keys()
    monkeypatch.setattr(config, missing, None)
    with pytest.raises(RuntimeError, match=message):
        config.check_keys()


def test_the_app_does_not_start_with_an_unscoped_public_key():
    """A fresh interpreter, as Lambda starts one: the import fails, no request is served."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TASKS_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----..."}
    for name in ("TASKS_KEYCLOAK_AUDIENCE", "TASKS_KEYCLOAK_ISSUER", "TASKS_KEYCLOAK_ANY_AUDIENCE"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", "import app"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode != 0 and "TASKS_KEYCLOAK_ISSUER" in done.stderr
    env.update(TASKS_KEYCLOAK_ISSUER=KC_ISSUER, TASKS_KEYCLOAK_ANY_AUDIENCE="yes")
    done = subprocess.run([sys.executable, "-c", "import app"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr


def test_keycloak_shaped_claims_signed_with_the_shared_secret_map_to_roles(api):
    """The next protocol's clients and tests sign Keycloak-shaped claims with the shared secret."""
    assert api.get("/tasks", token=hs({**SYSTEM, "exp": exp()})).status_code == 200


def test_iceprod3_tokens_hs512_with_float_times_verify(api):
    """rest_tools' defaults: HS512, ``iss`` "IceProd", float ``exp`` / ``nbf`` / ``iat``."""
    now = time.time()
    claims = {"roles": ["system"], "iss": "IceProd", "exp": now + 600.5, "nbf": now - 0.5, "iat": now - 0.5}
    assert api.get("/tasks", token=jwt.encode(claims, SECRET, algorithm="HS512")).status_code == 200
    expired = {**claims, "exp": now - 1.5}
    assert api.get("/tasks", token=jwt.encode(expired, SECRET, algorithm="HS512")).status_code == 401
    early = {**claims, "nbf": now + 300.5}
    assert api.get("/tasks", token=jwt.encode(early, SECRET, algorithm="HS512")).status_code == 401


def test_audience_and_issuer_are_checked_when_configured(api, monkeypatch):
    monkeypatch.setattr(config, "JWT_AUDIENCE", "iceprod")
    monkeypatch.setattr(config, "JWT_ISSUER", "IceProd")
    claims = {"roles": ["admin"], "exp": exp(), "aud": "iceprod", "iss": "IceProd"}
    assert api.get("/tasks", token=hs(claims)).status_code == 200
    assert api.get("/tasks", token=hs({**claims, "aud": "other"})).status_code == 401
    assert api.get("/tasks", token=hs({**claims, "iss": "https://evil"})).status_code == 401
    assert api.get("/tasks", token=hs({"roles": ["admin"], "exp": exp()})).status_code == 401


@pytest.fixture
def secrets_manager(monkeypatch):
    """A Secrets Manager secret (moto) as the only shared key; a clock the test moves."""
    import boto3
    from moto import mock_aws

    from chalicelib import auth

    clock = [1000.0]
    monkeypatch.setattr(config, "JWT_SECRET", None)
    monkeypatch.setattr(config, "JWT_SECRET_TTL_SECONDS", 300.0)
    monkeypatch.setattr(auth, "_clock", lambda: clock[0])
    auth._SECRETS.clear()
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="jwt", SecretString="first-secret-0123456789abcdef0123")["ARN"]
        monkeypatch.setattr(config, "JWT_SECRET_ARN", arn)
        yield client, arn, clock
    auth._SECRETS.clear()


def test_secret_from_secrets_manager(secrets_manager):
    from chalicelib import auth

    good = hs({"roles": ["admin"], "exp": exp()}, "first-secret-0123456789abcdef0123")
    assert auth.authenticate(f"Bearer {good}").roles == {"admin"}
    with pytest.raises(auth.Unauthenticated):
        auth.authenticate("Bearer " + hs({"roles": ["admin"], "exp": exp()}))


def test_a_rotated_secret_is_read_again_after_the_ttl(secrets_manager):
    """After a rotation, new tokens verify once the TTL has passed, and tokens of the previous
    version keep verifying; a second rotation retires them."""
    from chalicelib import auth

    client, arn, clock = secrets_manager
    first = hs({"roles": ["admin"], "exp": exp()}, "first-secret-0123456789abcdef0123")
    assert auth.authenticate(f"Bearer {first}").roles == {"admin"}
    client.put_secret_value(SecretId=arn, SecretString="second-secret-0123456789abcdef012")
    second = hs({"roles": ["admin"], "exp": exp()}, "second-secret-0123456789abcdef012")
    clock[0] += 299  # within the TTL: the cached secret
    with pytest.raises(auth.Unauthenticated):
        auth.authenticate(f"Bearer {second}")
    clock[0] += 2  # past it: AWSCURRENT and AWSPREVIOUS
    assert auth.authenticate(f"Bearer {second}").roles == {"admin"}
    assert auth.authenticate(f"Bearer {first}").roles == {"admin"}
    client.put_secret_value(SecretId=arn, SecretString="third-secret-0123456789abcdef0123")
    clock[0] += 301
    assert auth.authenticate(f"Bearer {second}").roles == {"admin"}
    with pytest.raises(auth.Unauthenticated):
        auth.authenticate(f"Bearer {first}")  # also when its verification was cached


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


def test_the_last_secret_read_serves_while_secrets_manager_fails(secrets_manager):
    """A failed re-read keeps the values read before (for another TTL) rather than refusing
    every token; only a first read that fails has nothing to serve."""
    from chalicelib import auth

    client, arn, clock = secrets_manager
    good = hs({"roles": ["admin"], "exp": exp()}, "first-secret-0123456789abcdef0123")
    assert auth.authenticate(f"Bearer {good}").roles == {"admin"}
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    clock[0] += 301
    assert auth.authenticate(f"Bearer {good}").roles == {"admin"}
    auth._SECRETS.clear()
    with pytest.raises(Exception, match="ResourceNotFound"):
        auth.authenticate(f"Bearer {good}")
