"""Published pipelines over REST: publish a spec, list, get, enable, disable (``routes.py`` lists them)."""
