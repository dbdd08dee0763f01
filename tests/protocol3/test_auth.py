"""IceProd 3's auth: tokens as IceProd 3's tools sign them (Keycloak-shaped claims, HS512 with the
shared secret, ``iss`` "IceProd", float times), roles and groups from the claims, and a ``user``'s
dataset rights from the dataset's access record, with IceProd's reason strings."""

import time

import jwt
import pytest

from chalicelib import auth, config, db
from chalicelib.models import Bookkeeping, bookkeeping
from chalicelib.services import access
from tests.conftest import token

SECRET = "test-secret-0123456789abcdef0123456789"
ADMINS = "/tokens/IceProdAdmins"
ICECUBE = "/institutions/IceCube/UW-Madison"
SIMPROD = "/posix/simprod-submit"
FILTERING = "/posix/i3filter"
TASK = "0123456789abcdef0123456789abcdef"
FILE = {"filename": "gsiftp://data/x.i3", "movement": "input"}
#: The tests' secret is shorter than PyJWT recommends for HS512 (rest_tools' tokens use IceProd's own).
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def ip3(groups=(), system=False, username="alice", **claims):
    """A token as IceProd 3's rest_tools signs one: HS512, ``iss`` "IceProd", float times."""
    now = time.time()
    body = {"iss": "IceProd", "exp": now + 600.5, "nbf": now - 0.5, "iat": now - 0.5, "groups": list(groups)}
    if system:
        body["resource_access"] = {"iceprod": {"roles": ["iceprod-system"]}}
    if username:
        body["preferred_username"] = username
    return jwt.encode({**body, **claims}, SECRET, algorithm="HS512")


def read(api, tok, dataset="d1"):
    return api.get(f"/datasets/{dataset}/files", token=tok)


def write(api, tok, dataset="d1"):
    return api.post(f"/datasets/{dataset}/files/{TASK}", FILE, token=tok)


def refused(response, status, reason):
    return response.status_code == status and response.data == {"code": status, "error": reason}


def store(dataset_id, **lists):
    """A record written as the importer writes it (anything, unchecked), bypassing the cache."""
    db.put_item(Bookkeeping, *bookkeeping.dataset_access(dataset_id),
                attributes={k: {"L": [{"S": v} for v in vs]} if isinstance(vs, list) else vs
                            for k, vs in lists.items()})


# --- authentication ---------------------------------------------------------------------

def test_admin_and_system_tokens_reach_a_dataset_without_a_record(api):
    assert read(api, ip3([ADMINS, ICECUBE])).status_code == 200
    assert write(api, ip3([ADMINS])).status_code == 201
    assert read(api, ip3(system=True, username=None)).status_code == 200
    assert write(api, ip3(system=True, username=None)).status_code == 201


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer not.a.jwt"])
def test_missing_or_malformed_credentials_fail_authentication(api, header):
    headers = {"Authorization": header} if header is not None else {}
    assert refused(api.get("/datasets/d1/files", token=None, headers=headers), 401, "authentication failed")


def test_expired_early_or_badly_signed_tokens_fail_authentication(api):
    now = time.time()
    assert refused(read(api, ip3([ADMINS], exp=now - 1.5)), 401, "authentication failed")
    assert refused(read(api, ip3([ADMINS], nbf=now + 300.5)), 401, "authentication failed")
    forged = jwt.encode({"groups": [ADMINS], "preferred_username": "x", "exp": now + 60}, "another-secret-" * 3,
                        algorithm="HS512")
    assert refused(read(api, forged), 401, "authentication failed")


def test_hs256_tokens_with_the_shared_secret_verify_too(api):
    claims = {"groups": [ADMINS], "preferred_username": "alice", "exp": time.time() + 60}
    assert read(api, jwt.encode(claims, SECRET, algorithm="HS256")).status_code == 200


def test_a_non_system_token_needs_preferred_username(api):
    assert refused(read(api, ip3([ADMINS], username=None)), 401, "authentication failed")
    assert refused(read(api, ip3([ICECUBE], username=None)), 401, "authentication failed")
    assert refused(read(api, ip3([ADMINS], username="")), 401, "authentication failed")
    assert read(api, ip3(system=True, username=None)).status_code == 200


def test_groups_and_username_map_as_iceprod3_maps_them():
    principal = auth.principal_from_claims(
        {"groups": [ADMINS, ICECUBE, SIMPROD, FILTERING, "/posix/other"], "preferred_username": "alice"}, True)
    assert principal.roles == {"admin", "user"}
    assert principal.groups == {"admin", "users", "simprod", "filtering"}
    assert principal.username == "alice"
    system = auth.principal_from_claims({"resource_access": {"iceprod": {"roles": ["iceprod-system"]}},
                                         "preferred_username": "bob"}, True)
    assert system.roles == {"system"} and system.username == "iceprod-system"


# --- roles ------------------------------------------------------------------------------

def test_a_token_without_a_role_is_not_authorized(api):
    outsider = ip3(["/institutions/Other", SIMPROD])
    assert refused(read(api, outsider), 403, "authorization failed")
    assert refused(api.get("/datasets", token=outsider), 403, "authorization failed")


def test_a_user_is_never_authorized_on_routes_outside_datasets():
    """IceProd 3's global routes are admin and system only (Access.SYSTEM, no dataset)."""
    user = auth.principal_from_claims({"groups": [ICECUBE], "preferred_username": "alice"}, True)
    with pytest.raises(auth.Forbidden, match=r"^authorization failed$"):
        auth.authorize(user, auth.Access.SYSTEM, None)
    system = auth.principal_from_claims({"resource_access": {"iceprod": {"roles": ["iceprod-system"]}}}, True)
    auth.authorize(system, auth.Access.SYSTEM, None)


# --- dataset access records -------------------------------------------------------------

def test_a_user_needs_the_datasets_record(api):
    user = ip3([ICECUBE])
    assert refused(read(api, user), 403, "attr not found")
    assert refused(write(api, user), 403, "attr not found")


def test_read_and_write_by_groups(api):
    assert api.put("/datasets/d1/access", {"group": "simprod", "owner": "bob"}).status_code == 200
    member, producer = ip3([ICECUBE]), ip3([ICECUBE, SIMPROD])
    assert read(api, member).status_code == 200  # "users" reads by default
    assert refused(write(api, member), 403, "authorization failed")
    assert read(api, producer).status_code == 200
    assert write(api, producer).status_code == 201
    assert refused(write(api, ip3([ICECUBE, FILTERING])), 403, "authorization failed")


def test_read_and_write_by_users(api):
    record = {"read_groups": ["admin"], "write_groups": ["admin"], "read_users": ["carol", "bob"],
              "write_users": ["bob"]}
    assert api.put("/datasets/d1/access", record).status_code == 200
    assert refused(read(api, ip3([ICECUBE], username="alice")), 403, "authorization failed")
    carol, bob = ip3([ICECUBE], username="carol"), ip3([ICECUBE], username="bob")
    assert read(api, carol).status_code == 200
    assert refused(write(api, carol), 403, "authorization failed")
    assert read(api, bob).status_code == 200
    assert write(api, bob).status_code == 201


def test_a_dataset_of_the_users_group_is_changed_only_by_admins_and_its_owner(api):
    assert api.put("/datasets/d1/access", {"group": "users", "owner": "bob"}).data == {
        "read_groups": ["admin", "users"], "write_groups": ["admin"], "read_users": ["bob"], "write_users": ["bob"]}
    assert refused(write(api, ip3([ICECUBE])), 403, "authorization failed")
    assert write(api, ip3([ICECUBE], username="bob")).status_code == 201


def test_a_record_without_the_routes_groups_is_role_not_found(api):
    store("d1", read_groups=["users"])
    assert read(api, ip3([ICECUBE])).status_code == 200
    assert refused(write(api, ip3([ICECUBE])), 403, "role not found")


@pytest.mark.parametrize("bad", [{"read_groups": {"S": "users"}}, {"read_groups": {"L": [{"N": "1"}]}},
                                 {"read_groups": ["users"], "read_users": {"N": "3"}}])
def test_a_malformed_record_is_failed_auth(api, bad):
    store("d1", **bad)
    assert refused(read(api, ip3([ICECUBE])), 403, "failed auth")


def test_admin_and_system_skip_the_record(api):
    store("d1", read_groups=[], write_groups=[])
    assert write(api, ip3([ADMINS])).status_code == 201
    assert write(api, ip3(system=True, username=None)).status_code == 201
    assert refused(read(api, ip3([ICECUBE])), 403, "authorization failed")


def test_our_own_dataset_grants_still_count(api):
    """Tokens we sign (``make token``) may grant datasets directly, beside the records."""
    assert read(api, token(["user"], {"d1": "read"})).status_code == 200
    assert refused(write(api, token(["user"], {"d1": "read"})), 403, "attr not found")
    assert write(api, token(["user"], {"d1": "write"})).status_code == 201


def test_dataset_access_is_checked_before_validation(api):
    bad = {"movement": "sideways"}
    assert refused(api.post(f"/datasets/d1/files/{TASK}", bad, token=ip3([ICECUBE])), 403, "attr not found")
    api.put("/datasets/d1/access", {"group": "users", "owner": "bob"})
    assert api.post(f"/datasets/d1/files/{TASK}", bad, token=ip3([ICECUBE], username="bob")).status_code == 400


# --- the admin route --------------------------------------------------------------------

def test_the_admin_route_sets_and_shows_a_record(api):
    assert refused(api.get("/datasets/d1/access"), 404, "dataset 'd1' has no access record")
    built = api.put("/datasets/d1/access", {"group": "filtering", "owner": "bob",
                                            "auth_groups_read": ["simprod", "users"]})
    assert built.status_code == 200
    assert built.data == {"read_groups": ["admin", "filtering", "simprod", "users"],
                          "write_groups": ["admin", "filtering"], "read_users": ["bob"], "write_users": ["bob"]}
    assert api.get("/datasets/d1/access").data == built.data
    given = api.put("/datasets/d1/access", {"read_groups": ["users"], "write_groups": ["simprod", "simprod"]})
    assert given.data == {"read_groups": ["users"], "write_groups": ["simprod"], "read_users": [], "write_users": []}
    assert api.get("/datasets/d1/access").data == given.data


@pytest.mark.parametrize("body", [
    {}, [], {"read_groups": ["users"]}, {"group": "simprod"},
    {"read_groups": ["users"], "write_groups": ["admin"], "group": "simprod", "owner": "bob"},
    {"read_groups": ["users"], "write_groups": ["admin"], "other": []},
    {"read_groups": "users", "write_groups": ["admin"]}, {"read_groups": [1], "write_groups": []},
    {"read_groups": [""], "write_groups": []}, {"group": 5, "owner": "bob"},
    {"read_groups": ["g"] * 201, "write_groups": []},
])
def test_the_admin_route_refuses_bad_bodies(api, body):
    response = api.put("/datasets/d1/access", body)
    assert response.status_code == 400, response.data
    assert api.get("/datasets/d1/access").status_code == 404


def test_the_admin_route_is_admin_only(api):
    api.put("/datasets/d1/access", {"group": "simprod", "owner": "bob"})
    body = {"read_groups": ["users"], "write_groups": ["users"]}
    for tok in (ip3(system=True, username=None), ip3([ICECUBE, SIMPROD], username="bob")):
        assert refused(api.get("/datasets/d1/access", token=tok), 403, "authorization failed")
        assert refused(api.put("/datasets/d1/access", body, token=tok), 403, "authorization failed")
    assert refused(api.put("/datasets/d1/access", body, token=None), 401, "authentication failed")
    assert api.get("/datasets/d1/access", token=ip3([ADMINS])).status_code == 200


# --- the cache --------------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(access, "_clock", lambda: now[0])
    monkeypatch.setattr(config, "ACCESS_CACHE_SECONDS", 5.0)
    return now


def test_a_record_changed_elsewhere_counts_after_the_ttl(api, clock, monkeypatch):
    reads = []
    get_item = db.get_item
    monkeypatch.setattr(db, "get_item", lambda *a, **kw: reads.append(a) or get_item(*a, **kw))
    user = ip3([ICECUBE])
    assert refused(read(api, user), 403, "attr not found")  # the absence is kept too
    store("d1", read_groups=["users"], write_groups=[])
    clock[0] += 4.9
    assert refused(read(api, user), 403, "attr not found")
    assert len(reads) == 1
    clock[0] += 0.2
    assert read(api, user).status_code == 200
    store("d1", read_groups=["admin"], write_groups=[])
    clock[0] += 4.9
    assert read(api, user).status_code == 200
    clock[0] += 0.2
    assert refused(read(api, user), 403, "authorization failed")
    assert len(reads) == 3


def test_the_process_that_sets_a_record_uses_it_at_once(api, clock):
    user = ip3([ICECUBE])
    assert refused(read(api, user), 403, "attr not found")
    api.put("/datasets/d1/access", {"group": "simprod", "owner": "bob"})
    assert read(api, user).status_code == 200


# --- GET /datasets ----------------------------------------------------------------------

@pytest.fixture
def listed(api):
    """d1..d4 in the dataset index, as the stream function writes it."""
    from chalicelib.services import counters

    counters.apply_stream_records([{"eventID": f"e-{d}", "dynamodb": {"NewImage": {
        "status": {"S": "waiting"}, "dataset_id": {"S": d}, "name": {"S": "x"}}}} for d in ("d1", "d2", "d3", "d4")])


def test_the_listing_follows_the_records(api, listed):
    api.put("/datasets/d1/access", {"group": "simprod", "owner": "bob"})
    api.put("/datasets/d2/access", {"group": "simprod", "owner": "bob", "auth_groups_read": []})
    store("d3", read_groups={"S": "users"})  # malformed: not readable
    assert set(api.get("/datasets", token=ip3([ICECUBE])).data) == {"d1"}
    assert set(api.get("/datasets", token=ip3([ICECUBE, SIMPROD])).data) == {"d1", "d2"}
    assert set(api.get("/datasets", token=ip3([ICECUBE], username="bob")).data) == {"d1", "d2"}
    assert set(api.get("/datasets", token=token(["user"], {"d4": "read"})).data) == {"d4"}
    assert set(api.get("/datasets", token=ip3([ADMINS])).data) == {"d1", "d2", "d3", "d4"}
    assert set(api.get("/datasets", token=ip3(system=True, username=None)).data) == {"d1", "d2", "d3", "d4"}


def test_rs256_keycloak_tokens_map_the_same_way(api, monkeypatch):
    """A real Keycloak's tokens: the same roles, groups and username, the same records."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setattr(config, "JWT_PUBLIC_KEY", key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    monkeypatch.setattr(config, "KEYCLOAK_AUDIENCE", "iceprod")
    monkeypatch.setattr(config, "KEYCLOAK_ISSUER", "https://keycloak.example/realms/IceCube")

    def kc(groups, username="alice"):
        return jwt.encode({"aud": "iceprod", "iss": "https://keycloak.example/realms/IceCube",
                           "exp": time.time() + 60, "groups": groups, "preferred_username": username},
                          key, algorithm="RS256")

    assert refused(read(api, kc([ICECUBE])), 403, "attr not found")
    api.put("/datasets/d1/access", {"group": "simprod", "owner": "bob"})
    assert read(api, kc([ICECUBE])).status_code == 200
    assert refused(write(api, kc([ICECUBE])), 403, "authorization failed")
    assert write(api, kc([ICECUBE, SIMPROD])).status_code == 201
    assert api.put("/datasets/d1/access", {"group": "users", "owner": "bob"}, token=kc([ADMINS])).status_code == 200
    assert refused(read(api, kc([ICECUBE], username=None)), 401, "authentication failed")
