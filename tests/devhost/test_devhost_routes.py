"""Route templates: parameters, optional/catch-all segments, constraints, precedence."""

from __future__ import annotations

import pytest

from amlite_devhost.routes import MethodNotAllowed, RouteError, RouteNotFound, Router, compile_route


def test_plain_and_optional_parameters() -> None:
    route = compile_route("orchestrators/{name}/{instance_id?}")
    assert route.match("/orchestrators/chain") == {"name": "chain"}
    assert route.match("/orchestrators/chain/abc") == {"name": "chain", "instance_id": "abc"}
    assert route.match("/orchestrators") is None
    assert route.match("/Orchestrators/chain/") == {"name": "chain"}  # case-insensitive, trailing slash


def test_catch_all_and_decoding() -> None:
    route = compile_route("files/{*path}")
    assert route.match("/files/a/b%20c.txt") == {"path": "a/b c.txt"}
    assert route.match("/files") == {}


def test_constraints_decide_matching() -> None:
    route = compile_route("items/{id:int}")
    assert route.match("/items/42") == {"id": "42"}
    assert route.match("/items/-3") == {"id": "-3"}
    assert route.match("/items/abc") is None
    assert compile_route("x/{flag:bool}").match("/x/true") == {"flag": "true"}
    assert compile_route("x/{name:alpha}").match("/x/ab1") is None
    assert compile_route("x/{g:guid}").match("/x/0f8fad5b-d9cb-469f-a165-70867728950e")
    assert compile_route("x/{v:regex(^[a-c]+$)}").match("/x/abc") == {"v": "abc"}
    assert compile_route("x/{v:regex(^[a-c]+$)}").match("/x/abd") is None
    assert compile_route("x/{n:int?}").match("/x") == {}


def test_defaults_and_mixed_segments() -> None:
    assert compile_route("page/{n=1}").match("/page") == {"n": "1"}
    assert compile_route("files/{name}.{ext}").match("/files/report.final.csv") == {
        "name": "report.final", "ext": "csv"}
    assert compile_route("").match("/") == {}


def test_bad_templates_are_named() -> None:
    with pytest.raises(RouteError, match="catch-all"):
        compile_route("{*rest}/x")
    with pytest.raises(RouteError, match="unknown constraint"):
        compile_route("x/{id:weird}")
    with pytest.raises(RouteError, match="unbalanced"):
        compile_route("x/{id")


def test_router_precedence_and_methods() -> None:
    router = Router()
    router.add("items/{id}", ("GET",), "param")
    router.add("items/special", ("GET",), "literal")
    router.add("items/{*rest}", ("POST",), "catch")
    assert router.resolve("/items/special", "GET") == ("literal", {})
    assert router.resolve("/items/7", "get") == ("param", {"id": "7"})
    assert router.resolve("/items/7/8", "POST") == ("catch", {"rest": "7/8"})
    with pytest.raises(MethodNotAllowed) as info:
        router.resolve("/items/7/8", "GET")
    assert info.value.allowed == ["POST"]
    with pytest.raises(RouteNotFound):
        router.resolve("/nothing", "GET")
