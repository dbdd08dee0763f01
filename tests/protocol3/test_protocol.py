"""A protocol 3 deployment serves IceProd 3's routes, not IceProd 2's."""


def test_iceprod2_claims_are_not_served(api):
    assert api.post("/task_actions/process", {}).status_code == 404


def test_the_published_document_lists_no_iceprod2_route(api):
    paths = api.get("/openapi.json").data["paths"]
    assert "/task_actions/process" not in paths
