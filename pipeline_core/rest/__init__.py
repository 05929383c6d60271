"""The REST layer: what the HTTP API does, with no HTTP framework in it.

``functions/http_api.py`` registers every route of ``rest.routes.ROUTES``,
authenticates with the route's ``role``, builds a ``ServiceRequest`` and calls
``handle``; the answer is a ``ServiceResponse`` (status, JSON body or text,
headers). Refusals are ``ServiceError`` (4xx with
``{"error": {"code", "message", "details"}}``). ``rest.api`` gathers these names.

This ``__init__`` imports nothing, so a module that needs one small piece (the
request values, the public URL) does not load the whole route table.
"""
