"""The API's shape: OpenAPI, docs, authentication, and the one error body."""

import pytest


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "siyu API"
    assert client.get("/api/v1/docs").status_code == 200


@pytest.mark.django_db
def test_unauthenticated_requests_get_the_error_body(client):
    response = client.get("/api/v1/staff/me")
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "unauthenticated",
            "message": response.json()["error"]["message"],
            "fields": {},
        }
    }


@pytest.mark.django_db
def test_bearer_token_authenticates_and_revoked_token_does_not(api_client, operator):
    client = api_client(operator)
    me = client.get("/api/v1/staff/me")
    assert me.status_code == 200
    assert me.json()["username"] == "operator"
    assert me.json()["role"] == "operator"

    from siyu.core.access import Actor
    from siyu.staff.models import ApiToken
    from siyu.staff.services import revoke_api_token

    revoke_api_token(ApiToken.objects.get(user=operator).pk, actor=Actor.system("t"))
    assert client.get("/api/v1/staff/me").status_code == 401


@pytest.mark.django_db
def test_healthz(client):
    assert client.get("/console/healthz").json()["status"] == "ok"
